"""The profile's MLflow server: backend store on PostgreSQL, artifacts proxied to the S3 store (moto here)."""

from __future__ import annotations

from infra.cluster import postgres, s3
from infra.mlflow_server import NAME, server_url
from infra.processes import ManagedProcess, http_ok
from pipelines.settings import Settings

ARTIFACTS = "s3://mlflow/artifacts"


def mlflow_process(settings: Settings, database: str | None = None) -> ManagedProcess:
    """Same process name as the embedded server (one MLflow per var dir); clients only see its HTTP API."""
    database = database or postgres.database_name(settings, "mlflow")
    cmd = [
        str(settings.venvs_dir / "ml" / "bin" / "mlflow"), "server",
        "--host", "127.0.0.1", "--port", str(settings.mlflow_port), "--workers", "1",
        "--backend-store-uri", postgres.database_url(settings, database, driver="+psycopg"),
        "--artifacts-destination", ARTIFACTS,
    ]  # fmt: skip
    env = {
        **s3.client_env(settings),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    return ManagedProcess(NAME, cmd, settings.pids_dir, settings.logs_dir, env=env,
                          ready=lambda: http_ok(f"{server_url(settings)}/health"))  # fmt: skip


def registry_is_stale(settings: Settings, database: str | None = None) -> bool:
    """PostgreSQL names model versions while the S3 store holds no artifact at all (moto keeps objects in memory,
    so a restarted emulator is empty): every champion the registry names is gone."""
    import psycopg

    database = database or postgres.database_name(settings, "mlflow")
    if not postgres.database_exists(settings, database):
        return False
    with psycopg.connect(postgres.database_url(settings, database)) as conn:
        try:
            versions = conn.execute("SELECT count(*) FROM model_versions").fetchone()[0]
        except psycopg.errors.UndefinedTable:
            return False
    return versions > 0 and not s3.has_objects(settings, ARTIFACTS.split("/")[2])


def start(settings: Settings, timeout: float = 180.0, database: str | None = None) -> int:
    """Start (or reuse) the server; a registry whose artifacts died with the S3 emulator is started over."""
    database = database or postgres.database_name(settings, "mlflow")
    if mlflow_process(settings, database).pid() is None and registry_is_stale(settings, database):
        print(f"    {database} names model versions but the S3 store is empty (a restarted emulator): "
              "resetting the registry, the first DAG run registers a new champion", flush=True)  # fmt: skip
        postgres.drop_database(settings, database)
    postgres.ensure_database(settings, database)
    return mlflow_process(settings, database).start(timeout)
