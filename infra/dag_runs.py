"""Run a DAG with `airflow dags test` in an isolated, migrated AIRFLOW_HOME and read back its task states.

Used by the Airflow tests and by benchmarks/retrain.py: every Airflow call goes through the Airflow env's
`airflow` binary, exactly as a user would run it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from infra.airflow import airflow_env, run_airflow
from pipelines.pipeline import STAGES
from pipelines.settings import PROJECT_ROOT, Settings

RETRAIN_DAG = "movielens_retrain"
RETRAIN_TASKS = ("load_feedback", *STAGES, "commit_feedback")


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
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.run_id or "")


def settings_env(settings: Settings, home: Path, port: int, overrides: dict | None = None) -> dict[str, str]:
    """Airflow env for `home` whose tasks see `settings` (+ MOVIEREC_* overrides)."""
    env = airflow_env(settings, home=home, port=port)
    env.update({f"MOVIEREC_{k.upper()}": json.dumps(list(v)) if isinstance(v, tuple) else str(v)
                for k, v in (overrides or {}).items()})  # fmt: skip
    env["MOVIEREC_DATASET"] = settings.dataset
    # Bytecode cache shared across sessions (a cache only: Python checks source mtimes).
    env["PYTHONPYCACHEPREFIX"] = str(PROJECT_ROOT / "var" / "pycache")
    return env


def new_airflow_home(home: Path, settings: Settings, port: int, overrides: dict | None = None) -> AirflowHome:
    """A fresh, db-migrated AIRFLOW_HOME whose tasks see `settings`."""
    home.mkdir(parents=True, exist_ok=True)
    ah = AirflowHome(home, settings, settings_env(settings, home, port, overrides))
    result = ah.airflow("db", "migrate", timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return ah


def task_states(home: Path, dag_id: str, run_id: str) -> list[tuple[str, str | None, float | None, int]]:
    """(task_id, state, duration, try_number) of one DAG run, read from the Airflow metadata DB (sqlite)."""
    with sqlite3.connect(home / "airflow.db") as db:
        return db.execute(
            "SELECT task_id, state, duration, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id),
        ).fetchall()


def latest_run_id(home: Path, dag_id: str) -> str | None:
    with sqlite3.connect(home / "airflow.db") as db:
        row = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
    return row[0] if row else None


def dags_test(
    ah: AirflowHome,
    conf: dict,
    timeout: float = 900,
    env: dict[str, str] | None = None,
    dag_id: str = RETRAIN_DAG,
) -> DagTestResult:
    """`airflow dags test <dag> -c <conf>`: every task in-process (ML tasks in the ML env)."""
    before = latest_run_id(ah.home, dag_id)
    started = time.perf_counter()
    result = ah.airflow("dags", "test", dag_id, "-c", json.dumps(conf), timeout=timeout, env=env)
    seconds = time.perf_counter() - started
    run_id = latest_run_id(ah.home, dag_id)
    if run_id == before:
        raise RuntimeError(f"no new dag run was created:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    rows = task_states(ah.home, dag_id, run_id)
    return DagTestResult(result.returncode, result.stdout + result.stderr, seconds, run_id,
                         {r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows}, {r[0]: r[3] for r in rows})  # fmt: skip
