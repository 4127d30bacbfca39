"""Local MLflow tracking server: SQLite backend + proxied local artifacts, one worker, 127.0.0.1:5000."""

from __future__ import annotations

from infra.processes import ManagedProcess, http_ok
from pipelines.settings import Settings

NAME = "mlflow"


def server_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.mlflow_port}"


def backend_store_uri(settings: Settings) -> str:
    """The server keeps the same SQLite store the CLI uses by default, so runs made offline stay visible."""
    return f"sqlite:///{settings.var_dir / 'mlflow' / 'mlflow.db'}"


def mlflow_process(settings: Settings) -> ManagedProcess:
    (settings.var_dir / "mlflow").mkdir(parents=True, exist_ok=True)
    cmd = [
        str(settings.venvs_dir / "ml" / "bin" / "mlflow"), "server",
        "--host", "127.0.0.1", "--port", str(settings.mlflow_port), "--workers", "1",
        "--backend-store-uri", backend_store_uri(settings),
        "--artifacts-destination", settings.mlflow_artifact_root.as_uri(),
    ]  # fmt: skip
    return ManagedProcess(NAME, cmd, settings.pids_dir, settings.logs_dir,
                          # the GenAI job runner starts 7 huey consumers (~1.7 GB) that this loop never uses
                          env={"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                          ready=lambda: http_ok(f"{server_url(settings)}/health"))  # fmt: skip


def start(settings: Settings, timeout: float = 120.0) -> int:
    return mlflow_process(settings).start(timeout)


def stop(settings: Settings) -> bool:
    return mlflow_process(settings).stop()
