# Local Airflow (api-server + scheduler + dag-processor + triggerer, SQLite under var/airflow, UI/API on 127.0.0.1:$MOVIEREC_AIRFLOW_PORT or 8080).
AIRFLOW_PY := $(ROOT)/.venvs/airflow/bin/python
AIRFLOW_CONF ?= {}

.PHONY: airflow-up airflow-down airflow-status airflow-password airflow-trigger airflow-dags-test airflow-test
airflow-up: .venvs/airflow/.installed .venvs/ml/.installed ## start Airflow in the background (waits until healthy)
	$(AIRFLOW_PY) -m infra.airflow up

airflow-down: ## stop the Airflow started by airflow-up (by PID file)
	$(AIRFLOW_PY) -m infra.airflow down

airflow-status: ## PID + component health of the local Airflow
	@$(AIRFLOW_PY) -m infra.airflow status

airflow-password: ## print the generated admin password for the UI (user: admin)
	@$(AIRFLOW_PY) -m infra.airflow password

airflow-trigger: ## trigger movielens_retrain over REST and wait (AIRFLOW_CONF='{"epochs": 2}')
	$(AIRFLOW_PY) -m infra.trigger_dag movielens_retrain --conf '$(AIRFLOW_CONF)'

airflow-dags-test: .venvs/airflow/.installed .venvs/ml/.installed ## run movielens_retrain once in-process (`airflow dags test`, no scheduler)
	eval "$$($(AIRFLOW_PY) -m infra.airflow env)" && mkdir -p "$$AIRFLOW_HOME" \
	  && $(ROOT)/.venvs/airflow/bin/airflow db migrate >/dev/null \
	  && $(ROOT)/.venvs/airflow/bin/airflow dags test movielens_retrain -c '$(AIRFLOW_CONF)'

airflow-test: ## the Airflow tests (DAG integrity + real `dags test` runs)
	$(ML_PY) -m pytest tests/airflow $(PYTEST_ARGS)
