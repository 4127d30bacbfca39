# The cluster profile (`make up PROFILE=cluster`, `make down PROFILE=cluster`): Flink session cluster, PostgreSQL,
# S3 (moto), serving replicas; see docs/scale-out.md. And the secrets docker-compose.yml reads.
# `make down` stops both profiles unless PROFILE is given (computed before the default below is applied)
DOWN_PROFILE := $(if $(filter command line environment,$(origin PROFILE)),$(PROFILE),all)
PROFILE ?= embedded
.PHONY: cluster-status cluster-logs secrets
cluster-status: ## which processes of the cluster profile run (and the landing job in the Flink cluster)
	@$(MOVIEREC) stack status --profile cluster

cluster-logs: ## tail the cluster profile's logs (var/cluster/logs)
	$(MOVIEREC) stack logs --profile cluster

secrets: ## write a git-ignored .env with random secrets for docker-compose.yml (kept if it exists)
	@$(ML_PY) -m infra.cluster.secrets
