"""MLflow restart drill: the PostgreSQL-backed MLflow server goes down during a real `movielens_retrain` run on the
profile's Airflow (LocalExecutor, PostgreSQL metadata DB, scheduler-driven, not `dags test`).

Champion v1 is registered through the server first. The DAG is triggered and the server stopped at once
(load_feedback..evaluate never talk to MLflow); it stays down until `register` has failed at least once and is
waiting for its retry, then starts again. Reported: register's tries, the champion and versions while register had
not succeeded, and after the run. Used by benchmarks/cluster.py (`--mlflow-drill`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from infra.cluster import airflow_pg, mlflow_pg, s3
from infra.cluster.airflow_drill import client
from infra.processes import wait_for
from infra.trigger_dag import AirflowClient, wait_for_run
from pipelines.settings import Settings

DAG_ID = "movielens_retrain"
# what the drill's process exports before Airflow starts (tasks inherit it): a retry window longer than an MLflow
# start on a loaded box, and MLflow client calls that fail in seconds instead of retrying for minutes
RETRY_ENV = {
    "MOVIEREC_TASK_RETRIES": "8",
    "MOVIEREC_TASK_RETRY_DELAY_S": "20",
    "MOVIEREC_RETRAIN_SCHEDULE": "",  # no scheduled run beside the drill's
    "MOVIEREC_FEEDBACK_WATCH_SCHEDULE": "",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


@dataclass
class MlflowRestartResult:
    run_state: str
    register_tries: int
    register_state_at_restart: str | None
    champion_before: str | None
    champion_at_restart: str | None
    champion_after: str | None
    versions_before: list[str]
    versions_after: list[str]
    down_s: float
    run_s: float
    states: dict[str, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            self.run_state == "success"
            and self.register_tries >= 2
            and self.register_state_at_restart != "success"
            and self.champion_at_restart == self.champion_before
            and len(self.versions_after) == len(self.versions_before) + 1
        )

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def registry_state(settings: Settings) -> tuple[str | None, list[str]]:
    """(champion version, every version) as the server reports them."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    api = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    try:
        champion: str | None = str(api.get_model_version_by_alias(settings.model_name, "champion").version)
    except MlflowException:
        champion = None
    versions = sorted(str(v.version) for v in api.search_model_versions(f"name = '{settings.model_name}'"))
    return champion, versions


def register_ti(api: AirflowClient, run_id: str) -> dict:
    return next((t for t in api.task_instances(DAG_ID, run_id) if t["task_id"] == "register"), {})


def run(settings: Settings, mlflow_db: str, airflow_db: str, timeout: float = 2400.0) -> MlflowRestartResult:
    """S3 + MLflow (PostgreSQL) + champion v1 + Airflow (PostgreSQL); the restart during a DAG run; all stopped."""
    from pipelines.pipeline import run_all

    server = mlflow_pg.mlflow_process(settings, mlflow_db)
    airflow = airflow_pg.airflow_process(settings, airflow_db)
    try:
        s3.start(settings)
        mlflow_pg.start(settings, database=mlflow_db)
        if registry_state(settings)[0] is None:
            run_all(settings, run_id="cluster-drill-champion")
        champion_before, versions_before = registry_state(settings)
        airflow_pg.start(settings, airflow_db)
        api = client(settings)
        if not wait_for(lambda: api.http.get(f"/api/v2/dags/{DAG_ID}").is_success, timeout=600, interval=2.0):
            raise RuntimeError(f"{DAG_ID} was not parsed: see {airflow.log_file}")
        api.unpause(DAG_ID)
        began = time.monotonic()
        run_id = api.trigger(DAG_ID, {})
        server.stop(grace=20.0)
        down_at = time.monotonic()
        failed_once = wait_for(
            lambda: register_ti(api, run_id).get("state") in ("up_for_retry", "failed"),
            timeout=timeout,
            interval=2.0,
        )
        if not failed_once:
            raise RuntimeError(f"register never failed while MLflow was down: {register_ti(api, run_id)}")
        mlflow_pg.start(settings, database=mlflow_db)
        down_s = time.monotonic() - down_at
        champion_at_restart, _ = registry_state(settings)
        register_state = register_ti(api, run_id).get("state")
        run_state = wait_for_run(api, DAG_ID, run_id, timeout, interval=3.0)
        champion_after, versions_after = registry_state(settings)
        tis = api.task_instances(DAG_ID, run_id)
        return MlflowRestartResult(
            run_state, int(register_ti(api, run_id).get("try_number") or 0), register_state, champion_before,
            champion_at_restart, champion_after, versions_before, versions_after, round(down_s, 1),
            round(time.monotonic() - began, 1), {t["task_id"]: t["state"] for t in tis},
        )  # fmt: skip
    finally:
        airflow.stop(grace=30.0)
        server.stop(grace=20.0)
        s3.s3_process(settings).stop()
