# Streaming: local tansu broker + PyFlink landing job (see docs/streaming.md). Included by the main Makefile.
.PHONY: broker-up broker-down topics flink-up flink-down flink-land flink-online-up flink-online-down flink-online-run streaming-status streaming-lag dlq-replay loadgen bench-ingest
broker-up: ## start the local Kafka-protocol broker (tansu) and create the topics
	$(MOVIEREC) streaming broker start
	$(MOVIEREC) streaming topics create

broker-down: ## stop the broker this project started (by PID)
	$(MOVIEREC) streaming broker stop

topics: ## create movie-clicks / movie-clicks-dlq if missing
	$(MOVIEREC) streaming topics create

flink-up: broker-up ## start the long-running Flink landing job (restores the latest checkpoint)
	$(MOVIEREC) streaming job start

flink-down: ## stop the landing job (retained checkpoints stay)
	$(MOVIEREC) streaming job stop

flink-land: ## bounded landing run: land what is in the topic now, then stop
	$(MOVIEREC) streaming job run-bounded

flink-online-up: broker-up ## start the long-running online A/B metrics job (restores the latest checkpoint)
	$(MOVIEREC) streaming online start

flink-online-down: ## stop the online metrics job (retained checkpoints stay)
	$(MOVIEREC) streaming online stop

flink-online-run: ## bounded online-metrics run over what is in the impressions/clicks topics now
	$(MOVIEREC) streaming online run-bounded

streaming-status: ## broker + job status and consumer lag
	@$(MOVIEREC) streaming broker status
	@$(MOVIEREC) streaming job status
	@$(MOVIEREC) streaming lag || true

streaming-lag: ## committed offsets of the landing job vs true end offsets
	$(MOVIEREC) streaming lag

dlq-replay: ## re-publish dead-lettered events that validate now
	$(MOVIEREC) streaming dlq replay

loadgen: ## produce a bounded click stream (COUNT, RATE)
	$(MOVIEREC) streaming loadgen --count $${COUNT:-1000} --rate $${RATE:-200}

bench-ingest: ## landing throughput + produce->landed latency at 1k/5k/20k events/s offered
	$(ML_PY) benchmarks/ingest.py
