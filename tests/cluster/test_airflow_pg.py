"""Airflow in the cluster profile: LocalExecutor with its metadata DB on a real PostgreSQL runs two DAG runs at once.

Real api-server + scheduler + dag-processor + triggerer on a free loopback port, a database of its own (dropped at
the end), a probe DAG of two sleeping tasks (infra/cluster/probe_dag.py) triggered twice over the REST API.
"""

from __future__ import annotations

import pytest

from infra.cluster import airflow_drill
from pipelines.settings import Settings
from tests.helpers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_dag_runs_overlap_on_localexecutor_with_postgres(tmp_path, own_database):
    settings = Settings(var_dir=tmp_path / "var", airflow_port=free_port())
    result = airflow_drill.run(settings, own_database, seconds=10)
    t0, runs = min(i.start for i in result.intervals), {r: n for n, r in enumerate(result.runs, 1)}
    spans = ", ".join(
        f"run {runs[i.run_id]} {i.task_id} {i.start - t0:.1f}-{i.end - t0:.1f}s" for i in result.intervals
    )
    print(f"\n[airflow pg] runs {result.runs}; max concurrent {result.max_concurrent}; cross-run overlap "
          f"{result.cross_run_overlap_s}s; {result.rows_in_postgres} task rows in PostgreSQL; {spans}")  # fmt: skip
    assert set(result.runs.values()) == {"success"} and len(result.intervals) == 4
    assert result.rows_in_postgres == 4
    assert result.max_concurrent >= 2 and result.cross_run_overlap_s > 0, result.intervals
