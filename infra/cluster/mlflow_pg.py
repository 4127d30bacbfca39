"""The profile's MLflow server: backend store on PostgreSQL, artifacts proxied to the S3 store (moto here)."""

from __future__ import annotations

from infra.cluster import postgres, s3
from infra.mlflow_server import NAME, server_url
from infra.processes import ManagedProcess, http_ok
from pipelines.settings import Settings

ARTIFACTS = "s3://mlflow/artifacts"


def mlflow_process(settings: Settings, database: str = postgres.MLFLOW_DB) -> ManagedProcess:
    """Same process name as the embedded server (one MLflow per var dir); clients only see its HTTP API."""
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


def start(settings: Settings, timeout: float = 180.0, database: str = postgres.MLFLOW_DB) -> int:
    postgres.ensure_database(settings, database)
    return mlflow_process(settings, database).start(timeout)
