"""The profile's Airflow: the same four components as the embedded one, metadata DB on PostgreSQL, LocalExecutor.

SQLite allows one writer, so the embedded Airflow can only run one task at a time in practice; on PostgreSQL the
LocalExecutor runs `cluster_airflow_parallelism` task processes at once (what compose's airflow-scheduler does).
"""

from __future__ import annotations

from pathlib import Path

from infra import airflow
from infra.cluster import postgres
from infra.processes import ManagedProcess
from pipelines.settings import Settings


def pg_env(settings: Settings, database: str | None = None) -> dict[str, str]:
    """What differs from infra.airflow.airflow_env: the metadata DB URL and the executor's parallelism."""
    database = database or postgres.database_name(settings, "airflow")
    parallelism = str(settings.cluster_airflow_parallelism)
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.database_url(settings, database, driver="+psycopg2"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": parallelism,
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": parallelism,
    }


def airflow_process(
    settings: Settings, database: str | None = None, dags_folder: Path | None = None
) -> ManagedProcess:
    """infra.airflow's supervisor (same PID file name) with the PostgreSQL metadata DB."""
    proc = airflow.airflow_process(settings)
    proc.env = {**proc.env, **pg_env(settings, database)}
    if dags_folder is not None:  # drills run their own probe DAGs
        proc.env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    return proc


def start(
    settings: Settings, database: str | None = None, dags_folder: Path | None = None, timeout: float = 300.0
) -> int:
    """Create the database if missing, then start (or reuse) Airflow and wait until every component is healthy."""
    database = database or postgres.database_name(settings, "airflow")
    postgres.ensure_database(settings, database)
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    pid = airflow_process(settings, database, dags_folder).start(timeout=timeout)
    print(
        f"airflow pid {pid} (LocalExecutor on PostgreSQL {database}): http://127.0.0.1:{settings.airflow_port}"
    )
    return pid
