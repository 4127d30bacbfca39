# The whole local loop (broker, Flink job, MLflow, Airflow, BentoML) on embedded defaults.
STACK := $(ML_PY) -m infra.stack

.PHONY: up down status logs mlflow-up mlflow-down
up: install ## install envs, start the whole loop, train a first champion if needed, print the addresses
	$(STACK) up

down: ## stop exactly what `make up` started (PID files under var/pids)
	$(STACK) down

status: ## which stack processes run
	@$(STACK) status

logs: ## tail the stack logs (var/logs)
	$(STACK) logs

mlflow-up: .venvs/ml/.installed ## MLflow tracking server only (127.0.0.1:5000)
	$(ML_PY) -c "from infra import mlflow_server; from pipelines.settings import get_settings; print(mlflow_server.start(get_settings()))"

mlflow-down:
	$(ML_PY) -c "from infra import mlflow_server; from pipelines.settings import get_settings; mlflow_server.stop(get_settings())"

.PHONY: demo
demo: ## on a running stack: like -> disappears -> clicks landed -> retrain over REST -> hot-swap (prints evidence)
	$(ML_PY) -m infra.demo
