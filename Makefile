# Entry points. Two commands matter: `make up` (run the loop) and `make test` (the whole suite).
# Every target calls the one CLI, `movierec` (= python -m infra.cli); `movierec --help` lists it all.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath .)
SHARED_DATA := $(abspath $(ROOT)/../shared/data/movielens)
# Data root: the offline copy beside the checkout when it exists, else var/data (filled by `make data`).
export MOVIEREC_DATA_ROOT ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),$(ROOT)/var/data)
ML_PY := $(ROOT)/.venvs/ml/bin/python
MOVIEREC := $(ML_PY) -m infra.cli
PYTEST_ARGS ?=

.PHONY: help install run test test-fast lint system-deps check-system-deps data screenshots
help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install: .venvs/ml/.installed .venvs/airflow/.installed .venvs/flink/.installed ## create the ml, airflow and flink envs (uv)

.venvs/%/.installed: locks/%.txt pyproject.toml infra/install_env.sh
	@bash infra/install_env.sh $*

data: .venvs/ml/.installed ## download MovieLens from GroupLens (online users only; sha256-verified)
	$(MOVIEREC) data download --dataset $${DATASET:-ml-latest-small}

run: .venvs/ml/.installed ## train + register + promote once on embedded defaults (no services needed)
	$(MOVIEREC) pipeline run

system-deps: ## install the system packages the tests use (Debian: chromium, docker-compose; needs root/sudo)
	@bash infra/install_system_deps.sh

check-system-deps:
	@bash infra/install_system_deps.sh --check

lint: .venvs/ml/.installed ## ruff check + ruff format --check + mypy (pipelines) + the import-layer contract
	$(ROOT)/.venvs/ml/bin/ruff check .
	$(ROOT)/.venvs/ml/bin/ruff format --check .
	$(ROOT)/.venvs/ml/bin/mypy pipelines
	$(ROOT)/.venvs/ml/bin/lint-imports

test-fast: .venvs/ml/.installed ## unit tests only: no services, under a minute
	$(ML_PY) -m pytest -m "not integration and not slow" -q -p no:cacheprovider $(PYTEST_ARGS)

test: install check-system-deps ## the whole test suite, slow end-to-end tests included (what CI runs last)
	$(ML_PY) -m pytest $(PYTEST_ARGS)

screenshots: ## copy the screenshots the browser tests took (var/screenshots) over docs/screenshots
	@ls var/screenshots/*.png >/dev/null 2>&1 || { echo "no screenshots yet: run make test first"; exit 1; }
	cp var/screenshots/*.png docs/screenshots/ && ls -1 docs/screenshots

-include infra/mk/*.mk
