# The whole local loop (broker, Flink job, MLflow, Airflow, BentoML) on embedded defaults.
.PHONY: up down status logs mlflow-up mlflow-down demo demo-loop demo-online
up: install ## install envs, start the whole loop, train a first champion if needed, print the addresses
	$(MOVIEREC) stack up --profile $(PROFILE)

down: ## stop exactly what `make up` started (PID files under var/pids)
	$(MOVIEREC) stack down --profile $(DOWN_PROFILE)

status: ## which stack processes run
	@$(MOVIEREC) stack status --profile $(PROFILE)

logs: ## tail the stack logs (var/logs)
	$(MOVIEREC) stack logs --profile $(PROFILE)

mlflow-up: .venvs/ml/.installed ## MLflow tracking server only (127.0.0.1:5000)
	$(MOVIEREC) mlflow up

mlflow-down:
	$(MOVIEREC) mlflow down

demo: ## on a running stack: the closed loop (demo-loop), then the online A/B test (demo-online)
	$(MOVIEREC) demo

demo-loop: ## like -> disappears -> clicks landed -> retrain over REST -> hot-swap (prints evidence)
	$(MOVIEREC) demo --phase loop

demo-online: ## simulated population A/B-tests a better challenger; prints CTR per version + the online decision
	$(MOVIEREC) demo --phase online $(if $(SCENARIO),--scenario $(SCENARIO))
