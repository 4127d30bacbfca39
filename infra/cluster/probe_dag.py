"""A probe DAG for the executor drill (infra.cluster.airflow_drill): two independent tasks that sleep.

Copied into a drill's own DAG folder, never into dags/. Runs in the Airflow env (no ML env): the drill measures
how many task processes the executor runs at once, not what the tasks do.
"""

from __future__ import annotations

import time
from datetime import datetime

from airflow.sdk import dag, get_current_context, task

DAG_ID = "cluster_parallel_probe"


@task
def hold(slot: int) -> dict:
    """Sleep `conf.seconds`; returns the wall clock interval it held a task process."""
    seconds = float(get_current_context()["dag_run"].conf.get("seconds", 20))
    began = time.time()
    time.sleep(seconds)
    return {"slot": slot, "began": began, "ended": time.time()}


@dag(dag_id=DAG_ID, schedule=None, start_date=datetime(2024, 1, 1), catchup=False, max_active_runs=2)
def cluster_parallel_probe() -> None:
    hold.override(task_id="hold_a")(0)
    hold.override(task_id="hold_b")(1)


cluster_parallel_probe()
