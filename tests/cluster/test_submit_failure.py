"""A `flink run` that cannot submit fails with the client's log, leaves no client process behind, and the CLI's
`up` stops what the profile started (infra.cli.stack: any non-StackError during `up` runs `down`)."""

from __future__ import annotations

import pytest

from infra.cluster import flink_cluster, flink_submit
from pipelines.settings import Settings
from tests.cluster.conftest import cluster_missing
from tests.helpers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_submission_to_a_missing_jobmanager_fails_cleanly(tmp_path):
    settings = Settings(
        var_dir=tmp_path / "var", flink_rest_port=free_port(), kafka_bootstrap=f"127.0.0.1:{free_port()}"
    )
    reason = cluster_missing(settings)
    if reason:
        pytest.skip(reason)
    with pytest.raises(flink_cluster.ClusterError, match="flink run of the landing job failed"):
        flink_submit.submit(settings, timeout=150)
    assert flink_submit.submitter(settings).pid() is None
    assert not flink_submit.read_status(settings).get("job_id")
