# Streaming: local tansu broker + PyFlink landing job (see docs/streaming.md). Included by the main Makefile.
STREAM_PY := $(ROOT)/.venvs/ml/bin/python -m streaming

.PHONY: broker-up broker-down topics flink-up flink-down flink-land streaming-status streaming-lag dlq-replay loadgen bench-ingest
broker-up: ## start the local Kafka-protocol broker (tansu) and create the topics
	$(STREAM_PY) broker start
	$(STREAM_PY) topics create

broker-down: ## stop the broker this project started (by PID)
	$(STREAM_PY) broker stop

topics: ## create movie-clicks / movie-clicks-dlq if missing
	$(STREAM_PY) topics create

flink-up: broker-up ## start the long-running Flink landing job (restores the latest checkpoint)
	$(STREAM_PY) job start

flink-down: ## stop the landing job (retained checkpoints stay)
	$(STREAM_PY) job stop

flink-land: ## bounded landing run: land what is in the topic now, then stop
	$(STREAM_PY) job run-bounded

streaming-status: ## broker + job status and consumer lag
	@$(STREAM_PY) broker status
	@$(STREAM_PY) job status
	@$(STREAM_PY) lag || true

streaming-lag: ## committed offsets of the landing job vs true end offsets
	$(STREAM_PY) lag

dlq-replay: ## re-publish dead-lettered events that validate now
	$(STREAM_PY) dlq replay

loadgen: ## produce a bounded click stream (COUNT, RATE)
	$(STREAM_PY) loadgen --count $${COUNT:-1000} --rate $${RATE:-200}

bench-ingest: ## landing throughput + produce->landed latency at 1k/5k/20k events/s offered
	$(ROOT)/.venvs/ml/bin/python benchmarks/ingest.py
