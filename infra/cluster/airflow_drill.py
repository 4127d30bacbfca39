"""Executor drill: two DAG runs at once on the profile's Airflow (LocalExecutor, metadata DB on PostgreSQL).

Starts Airflow with a DAG folder holding only infra/cluster/probe_dag.py, triggers two runs of it over the REST
API, and reads every task's interval back from the REST API. `max_concurrent` > 1 and overlapping intervals of
tasks from different runs are what a serial executor (or SQLite's single writer) cannot produce.
Used by tests/cluster/test_airflow_pg.py and benchmarks/cluster.py.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from infra.airflow import admin_password
from infra.cluster import airflow_pg, postgres
from infra.processes import wait_for
from infra.trigger_dag import AirflowClient, wait_for_run
from pipelines.settings import Settings

PROBE_DAG = Path(__file__).with_name("probe_dag.py")
PROBE_ID = "cluster_parallel_probe"


@dataclass
class Interval:
    run_id: str
    task_id: str
    state: str | None
    start: float
    end: float


@dataclass
class ExecutorDrillResult:
    runs: dict[str, str]
    intervals: list[Interval]
    max_concurrent: int
    cross_run_overlap_s: float
    rows_in_postgres: int
    start_s: float

    @property
    def ok(self) -> bool:
        return (
            set(self.runs.values()) == {"success"}
            and self.max_concurrent >= 2
            and self.cross_run_overlap_s > 0
        )

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def max_concurrent(intervals: list[Interval]) -> int:
    """The largest number of intervals open at one instant (sweep over start/end events)."""
    events = sorted(
        [(i.start, 1) for i in intervals] + [(i.end, -1) for i in intervals], key=lambda e: (e[0], e[1])
    )
    open_now = peak = 0
    for _, step in events:
        open_now += step
        peak = max(peak, open_now)
    return peak


def cross_run_overlap(intervals: list[Interval]) -> float:
    """Longest time any task of one run overlapped a task of another run (seconds)."""
    best = 0.0
    for a in intervals:
        for b in intervals:
            if a.run_id < b.run_id:
                best = max(best, min(a.end, b.end) - max(a.start, b.start))
    return best


def task_rows(settings: Settings, database: str) -> int:
    """Task instances of the probe in the PostgreSQL metadata DB: the scheduler really wrote there."""
    import psycopg

    with psycopg.connect(postgres.database_url(settings, database)) as conn:
        return conn.execute("SELECT count(*) FROM task_instance WHERE dag_id = %s", (PROBE_ID,)).fetchone()[0]


def client(settings: Settings, timeout: float = 180.0) -> AirflowClient:
    """REST client with a long timeout: on a loaded 2-core box one API worker can take a minute to answer."""
    url = f"http://127.0.0.1:{settings.airflow_port}"
    return AirflowClient(url, "admin", admin_password(settings.airflow_home), timeout=timeout)


def run(
    settings: Settings, database: str, seconds: float = 20.0, timeout: float = 600.0
) -> ExecutorDrillResult:
    """Start Airflow on `database`, run the probe twice at once, stop Airflow; the intervals it saw."""
    dags = settings.var_dir / "probe_dags"
    dags.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROBE_DAG, dags / PROBE_DAG.name)
    began = time.monotonic()
    proc = airflow_pg.airflow_process(settings, database, dags)
    try:
        airflow_pg.start(settings, database, dags, timeout=timeout)
        start_s = time.monotonic() - began
        api = client(settings)
        if not wait_for(lambda: _parsed(api), timeout=timeout, interval=2.0):
            raise RuntimeError(f"{PROBE_ID} was not parsed in {timeout:.0f}s: see {proc.log_file}")
        api.unpause(PROBE_ID)
        run_ids = [api.trigger(PROBE_ID, {"seconds": seconds}) for _ in range(2)]
        runs = {r: wait_for_run(api, PROBE_ID, r, timeout, interval=5.0) for r in run_ids}
        intervals = [
            Interval(r, ti["task_id"], ti["state"], _ts(ti["start_date"]), _ts(ti["end_date"]))
            for r in run_ids
            for ti in api.task_instances(PROBE_ID, r)
            if ti.get("start_date") and ti.get("end_date")
        ]
        return ExecutorDrillResult(runs, intervals, max_concurrent(intervals), round(cross_run_overlap(intervals), 2),
                                   task_rows(settings, database), round(start_s, 1))  # fmt: skip
    finally:
        proc.stop(grace=30.0)


def _parsed(api: AirflowClient) -> bool:
    return api.http.get(f"/api/v2/dags/{PROBE_ID}").is_success
