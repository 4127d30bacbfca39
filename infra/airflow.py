"""Local Airflow on embedded defaults: its four components (infra.airflow_components), SQLite under var/airflow,
loopback only.

Usage (any of the project envs; it only needs pipelines.settings and the stdlib):
    movierec airflow up | down | status | env | password | migrate

The `airflow` binary comes from the Airflow env (`settings.venv_python("airflow")`'s bin folder).
Tasks of the DAGs run in the ML env through `@task.external_python`.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import httpx

from infra.processes import ManagedProcess
from pipelines.settings import PROJECT_ROOT, QUIET_ENV, Settings

DAGS_FOLDER = PROJECT_ROOT / "dags"
PROCESS_NAME = "airflow"
# 2 cores: a handful of concurrent task instances is plenty (each ML task is its own interpreter).
PARALLELISM = 4


def airflow_bin(settings: Settings) -> Path:
    """The `airflow` console script of the Airflow env."""
    return settings.venv_python("airflow").parent / "airflow"


def password_file(home: Path) -> Path:
    """Where the simple auth manager writes the generated admin password."""
    return home / "simple_auth_manager_passwords.json.generated"


def airflow_env(settings: Settings, home: Path | None = None, port: int | None = None) -> dict[str, str]:
    """Environment for every Airflow process (components, CLI, `dags test`) of this project.

    Also exports the resolved MOVIEREC_* paths so that the scheduler, the DAG processor and the task
    subprocesses read the same settings whatever their working directory.
    """
    home = Path(home or settings.airflow_home)
    port = port or settings.airflow_port
    base_url = f"http://127.0.0.1:{port}"
    env = {
        "AIRFLOW_HOME": str(home),
        # infra.airflow_components (and task runners) start `airflow ...` from PATH.
        "PATH": f"{airflow_bin(settings).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(PARALLELISM),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": base_url,
        # Task runners reach the API server here; the built-in default is localhost:8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file(home)),
        # Parse our own DAG folder often enough that edits show up quickly in the UI.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
        # Every ML task is a new interpreter: keep compiled bytecode (outside the venvs, under var/) so that
        # only the first run pays for compiling TensorFlow/MLflow/GX (~2.5x faster imports measured).
        # An empty PYTHONDONTWRITEBYTECODE overrides a caller's "1".
        "PYTHONDONTWRITEBYTECODE": "",
        "PYTHONPYCACHEPREFIX": str(settings.var_dir / "pycache"),
        "MOVIEREC_VAR_DIR": str(settings.var_dir),
        "MOVIEREC_DATA_ROOT": str(settings.data_root),
        "MOVIEREC_MLFLOW_TRACKING_URI": str(settings.mlflow_tracking_uri),
        "MOVIEREC_FEEDBACK_DIR": str(settings.feedback_dir),
        "MOVIEREC_VENVS_DIR": str(settings.venvs_dir),
        **QUIET_ENV,
    }
    # Any other MOVIEREC_* override of the caller reaches the tasks unchanged.
    for key, value in os.environ.items():
        if key.startswith("MOVIEREC_") and key not in env:
            env[key] = value
    return env


def run_airflow(
    settings: Settings,
    args: list[str],
    env: Mapping[str, str],
    timeout: float | None = None,
    capture: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run one `airflow ...` CLI command with the project env; output captured unless `capture` is False."""
    return subprocess.run(  # noqa: S603
        [str(airflow_bin(settings)), *args],
        env={**os.environ, **env},
        cwd=PROJECT_ROOT,
        capture_output=capture,
        text=True,
        timeout=timeout,
        check=False,
    )


def health(port: int) -> dict:
    """GET /api/v2/monitor/health (public endpoint); {} when the API server does not answer."""
    try:
        url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
        return httpx.get(url, timeout=2).raise_for_status().json()
    except Exception:
        return {}


def is_healthy(port: int) -> bool:
    """API server answers and the metadatabase, scheduler, triggerer and DAG processor report healthy."""
    status = health(port)
    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return bool(status) and all((status.get(p) or {}).get("status") == "healthy" for p in parts)


def airflow_process(settings: Settings, home: Path | None = None, port: int | None = None) -> ManagedProcess:
    """api-server + scheduler + dag-processor + triggerer under infra.airflow_components, as a ManagedProcess
    (PID file var/pids/airflow.pid, log var/logs/airflow.log)."""
    port = port or settings.airflow_port
    return ManagedProcess(
        name=PROCESS_NAME,
        cmd=[str(settings.venv_python("airflow")), "-m", "infra.airflow_components"],
        pids_dir=settings.pids_dir,
        logs_dir=settings.logs_dir,
        env=airflow_env(settings, home, port),
        cwd=PROJECT_ROOT,
        ready=lambda: is_healthy(port),
    )


def up(settings: Settings, timeout: float = 180.0) -> int:
    """Start Airflow (or reuse the running one) and wait until every component is healthy."""
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    pid = airflow_process(settings).start(timeout=timeout)
    print(f"airflow pid {pid}: UI and REST API on http://127.0.0.1:{settings.airflow_port}")
    print(f"login: admin / password in {password_file(settings.airflow_home)}")
    return pid


def down(settings: Settings) -> bool:
    """Stop the Airflow components we started (by PID file)."""
    stopped = airflow_process(settings).stop(grace=30.0)
    print("airflow stopped" if stopped else "airflow was not running")
    return stopped


def admin_password(home: Path) -> str:
    """The generated admin password (exists after the API server's first start)."""
    return json.loads(password_file(home).read_text())["admin"]
