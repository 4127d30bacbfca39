"""kill -9 the TaskManager running the file sink mid-stream: the job recovers from its last checkpoint and every
acknowledged click lands exactly once (files, and PostgreSQL when there is one). Real engines: tansu, a Flink
standalone session cluster, `flink run` at parallelism 2 over a 2-partition topic.
"""

from __future__ import annotations

import pytest

from infra.cluster import drill, flink_cluster, flink_submit

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_job_runs_in_the_cluster_at_parallelism_two(cluster_settings):
    job_id = flink_submit.active_landing_jobs(cluster_settings)[0]
    detail = drill.job_detail(cluster_settings, job_id)
    assert {v["parallelism"] for v in detail["vertices"] if "clicks_raw" in v["name"]} == {2}
    hosts = flink_cluster.registered_taskmanagers(cluster_settings)
    assert hosts == set(flink_cluster.taskmanager_ids(cluster_settings))


def test_taskmanager_kill_lands_every_acked_click_once(cluster_settings):
    job_id = flink_submit.active_landing_jobs(cluster_settings)[0]
    result = drill.kill_taskmanager(cluster_settings, job_id, rate=100.0, before_s=5.0, after_s=8.0)
    print(f"\nTaskManager kill: {result.as_dict()}")
    assert result.acked > 0 and result.acked == result.tried
    assert result.kill_to_running_s is not None, "the job did not get all its tasks running again"
    assert result.restored_checkpoint is not None, "the restarted job did not restore a checkpoint"
    assert result.landed_files == result.acked, f"missing {result.acked - result.landed_files} in the files"
    assert result.duplicates_files == 0
    if result.landed_pg is not None:
        assert result.landed_pg == result.acked
    assert flink_submit.active_landing_jobs(cluster_settings) == [job_id], "the same job recovered in place"
