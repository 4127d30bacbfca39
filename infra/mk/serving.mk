# Serving: the BentoML service (serving/), its page (/ui/) and benchmark. Included by the main Makefile.
SERVING_PY := $(ROOT)/.venvs/ml/bin/python
BENTOML := $(ROOT)/.venvs/ml/bin/bentoml
SERVING_HOST ?= $(or $(MOVIEREC_SERVING_HOST),127.0.0.1)
SERVING_PORT ?= $(or $(MOVIEREC_SERVING_PORT),3000)

.PHONY: serve serving-up serving-down serving-status serving-test serving-bench bento
serve: .venvs/ml/.installed ## run the BentoML service in the foreground (127.0.0.1:3000; page at /ui/)
	cd $(ROOT) && $(BENTOML) serve serving.service:MovieRecommender --host $(SERVING_HOST) --port $(SERVING_PORT)

serving-up: .venvs/ml/.installed ## start the service in the background (PID file var/pids/serving.pid), wait for /healthz
	$(SERVING_PY) -m serving.process up

serving-down: ## stop the service started by serving-up / make up (by PID)
	$(SERVING_PY) -m serving.process down

serving-status: ## PID and /readyz of the service
	@$(SERVING_PY) -m serving.process status

serving-test: ## the serving tests (unit + real broker + real bentoml serve + chromium)
	@bash infra/install_system_deps.sh
	$(SERVING_PY) -m pytest tests/serving $(PYTEST_ARGS)

serving-bench: .venvs/ml/.installed ## service vs seed-style Flask baseline on full ml-latest-small (docs/serving.md)
	$(SERVING_PY) benchmarks/serving.py

bento: .venvs/ml/.installed ## build the bento (serving/bentofile.yaml); `bentoml containerize movierec:latest` needs Docker
	cd $(ROOT) && $(BENTOML) build -f serving/bentofile.yaml .
