"""Airflow test fixtures: one db-migrated AIRFLOW_HOME per session, the Airflow CLI as a subprocess.

The tests run in the ML env (pytest); every Airflow call goes through the Airflow env's `airflow` binary,
exactly as a user would run it. MLflow/feedback state lives under a per-session var/ folder.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.airflow import airflow_env, run_airflow
from pipelines.settings import PROJECT_ROOT, Settings
from tests.helpers import FIXTURE_DATA_ROOT

DAG_ID = "movielens_retrain"
# Small and quick: the committed slice, tiny model, few epochs (params can still override per run).
SMALL_SETTINGS = {"epochs": 2, "batch_size": 512, "embedding_dim": 8, "mlp_layers": (16, 8)}


@dataclass
class AirflowHome:
    """A migrated AIRFLOW_HOME + the settings its tasks see."""

    home: Path
    settings: Settings
    env: dict[str, str]

    def airflow(
        self, *args: str, timeout: float = 600, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The Airflow CLI with this home's environment (+ env overrides)."""
        return run_airflow(self.settings, list(args), {**self.env, **(env or {})}, timeout=timeout)


@dataclass
class DagTestResult:
    returncode: int
    output: str
    seconds: float
    run_id: str | None
    states: dict[str, str | None]
    durations: dict[str, float | None]
    tries: dict[str, int]

    @property
    def run_key(self) -> str:
        """The pipeline's run folder name for this DAG run (the DAG's path_safe of the run id)."""
        import re

        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.run_id or "")


def _env_for(settings: Settings, home: Path) -> dict[str, str]:
    env = airflow_env(settings, home=home, port=18080)
    env.update({f"MOVIEREC_{k.upper()}": json.dumps(list(v)) if isinstance(v, tuple) else str(v)
                for k, v in SMALL_SETTINGS.items()})  # fmt: skip
    env["MOVIEREC_DATASET"] = settings.dataset
    # Bytecode cache shared across test sessions (a cache only: Python checks source mtimes), so that
    # only the first session compiles TensorFlow & co.
    env["PYTHONPYCACHEPREFIX"] = str(PROJECT_ROOT / "var" / "pycache")
    return env


def new_airflow_home(home: Path, settings: Settings) -> AirflowHome:
    """A fresh, db-migrated AIRFLOW_HOME whose tasks see `settings`."""
    home.mkdir(parents=True)
    ah = AirflowHome(home, settings, _env_for(settings, home))
    result = ah.airflow("db", "migrate", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return ah


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> AirflowHome:
    root = tmp_path_factory.mktemp("airflow")
    settings = Settings(var_dir=root / "var", data_root=FIXTURE_DATA_ROOT, dataset="ml-latest-small", **SMALL_SETTINGS)
    return new_airflow_home(root / "airflow_home", settings)


def task_states(home: Path, dag_id: str, run_id: str) -> list[tuple[str, str | None, float | None, int]]:
    """(task_id, state, duration, try_number) of one DAG run, read from the Airflow metadata DB (sqlite)."""
    with sqlite3.connect(home / "airflow.db") as db:
        return db.execute(
            "SELECT task_id, state, duration, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id),
        ).fetchall()


def latest_run_id(home: Path, dag_id: str) -> str | None:
    with sqlite3.connect(home / "airflow.db") as db:
        row = db.execute("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)).fetchone()
    return row[0] if row else None


def dags_test(ah: AirflowHome, conf: dict, timeout: float = 900, env: dict[str, str] | None = None) -> DagTestResult:
    """`airflow dags test movielens_retrain -c <conf>`: every task in-process (ML tasks in the ML env)."""
    before = latest_run_id(ah.home, DAG_ID)
    started = time.perf_counter()
    result = ah.airflow("dags", "test", DAG_ID, "-c", json.dumps(conf), timeout=timeout, env=env)
    seconds = time.perf_counter() - started
    run_id = latest_run_id(ah.home, DAG_ID)
    assert run_id != before, f"no new dag run was created:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    rows = task_states(ah.home, DAG_ID, run_id)
    return DagTestResult(result.returncode, result.stdout + result.stderr, seconds, run_id,
                         {r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows}, {r[0]: r[3] for r in rows})  # fmt: skip
