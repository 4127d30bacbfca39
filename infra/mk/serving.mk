# Serving: the BentoML service (serving/), its page (/ui/) and benchmark. Included by the main Makefile.
.PHONY: serve serving-up serving-down serving-status serving-test serving-bench bento
serve: .venvs/ml/.installed ## run the BentoML service in the foreground (127.0.0.1:3000; page at /ui/)
	$(MOVIEREC) serving serve

serving-up: .venvs/ml/.installed ## start the service in the background (PID file var/pids/serving.pid), wait for /healthz
	$(MOVIEREC) serving up

serving-down: ## stop the service started by serving-up / make up (by PID)
	$(MOVIEREC) serving down

serving-status: ## PID and /readyz of the service
	@$(MOVIEREC) serving status

serving-test: check-system-deps ## the serving tests (unit + real broker + real bentoml serve + chromium)
	$(ML_PY) -m pytest tests/serving $(PYTEST_ARGS)

serving-bench: .venvs/ml/.installed ## service vs seed-style Flask baseline on full ml-latest-small (docs/serving.md)
	$(ML_PY) benchmarks/serving.py

bento: .venvs/ml/.installed ## build the bento (serving/bentofile.yaml); `bentoml containerize movierec:latest` needs Docker
	cd $(ROOT) && $(ROOT)/.venvs/ml/bin/bentoml build -f serving/bentofile.yaml .
