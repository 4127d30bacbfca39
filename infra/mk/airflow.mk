# Local Airflow (api-server + scheduler + dag-processor + triggerer, SQLite under var/airflow, UI/API on 127.0.0.1:$MOVIEREC_AIRFLOW_PORT or 8080).
AIRFLOW_CONF ?= {}

.PHONY: airflow-up airflow-down airflow-status airflow-password airflow-trigger airflow-dags-test airflow-test
airflow-up: .venvs/airflow/.installed .venvs/ml/.installed ## start Airflow in the background (waits until healthy)
	$(MOVIEREC) airflow up

airflow-down: ## stop the Airflow started by airflow-up (by PID file)
	$(MOVIEREC) airflow down

airflow-status: ## PID + component health of the local Airflow
	@$(MOVIEREC) airflow status

airflow-password: ## print the generated admin password for the UI (user: admin)
	@$(MOVIEREC) airflow password

airflow-trigger: ## trigger movielens_retrain over REST and wait (AIRFLOW_CONF='{"epochs": 2}')
	$(MOVIEREC) airflow trigger movielens_retrain --conf '$(AIRFLOW_CONF)'

airflow-dags-test: .venvs/airflow/.installed .venvs/ml/.installed ## run movielens_retrain once in-process (`airflow dags test`, no scheduler)
	$(MOVIEREC) airflow dags-test --conf '$(AIRFLOW_CONF)'

airflow-test: ## the Airflow tests (DAG integrity + real `dags test` runs)
	$(ML_PY) -m pytest tests/airflow $(PYTEST_ARGS)
