# Entry points. Two commands matter: `make up` (run the loop) and `make test` (what CI runs).
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath .)
SHARED_DATA := $(abspath $(ROOT)/../shared/data/movielens)
# Data root: the offline copy beside the checkout when it exists, else var/data (filled by `make data`).
export MOVIEREC_DATA_ROOT ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),$(ROOT)/var/data)
export MLFLOW_DISABLE_TELEMETRY := true
export GX_ANALYTICS_ENABLED := false
export BENTOML_DO_NOT_TRACK := true
export DO_NOT_TRACK := true
export TF_CPP_MIN_LOG_LEVEL := 2
ML_PY := $(ROOT)/.venvs/ml/bin/python
PYTEST_ARGS ?=

.PHONY: help install run test data
help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

install: .venvs/ml/.installed .venvs/airflow/.installed .venvs/flink/.installed ## create the ml, airflow and flink envs (uv)

.venvs/%/.installed: locks/%.txt pyproject.toml infra/install_env.sh
	@bash infra/install_env.sh $*

data: .venvs/ml/.installed ## download MovieLens from GroupLens (online users only; sha256-verified)
	$(ML_PY) -m pipelines download --dataset $${DATASET:-ml-latest-small}

run: .venvs/ml/.installed ## train + register + promote once on embedded defaults (no services needed)
	$(ML_PY) -m pipelines run

test: install ## the whole test suite, slow end-to-end tests included (what CI runs)
	@bash infra/install_system_deps.sh
	$(ML_PY) -m pytest $(PYTEST_ARGS)

-include infra/mk/*.mk
