"""A real Flink session cluster (1 JobManager + 2 TaskManagers) running the landing job at parallelism 2.

Everything on free loopback ports under the test's own var dir, stopped by PID at the end. Skipped, with the
reason, where Java or the Flink env is missing.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest

from infra.broker import start_broker, stop_broker
from infra.cluster import flink_cluster, flink_submit
from pipelines.kafka_config import ensure_topics
from pipelines.settings import Settings
from tests.helpers import FIXTURE_DATA_ROOT, free_port
from tests.plugins.streaming import PG_URL, postgres_available


def cluster_missing(settings: Settings) -> str | None:
    if shutil.which("java") is None:
        return "Java not found: the Flink cluster needs a JDK 17 on PATH"
    try:
        flink_cluster.flink_home(settings)
    except flink_cluster.ClusterError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def cluster_settings(tmp_path_factory) -> Iterator[Settings]:
    """Broker + 2-partition topics + the cluster + the landing job submitted fresh with `flink run`."""
    suffix = uuid.uuid4().hex[:10]
    pg = PG_URL if postgres_available() else None
    settings = Settings(
        var_dir=tmp_path_factory.mktemp("cluster") / "var",
        data_root=FIXTURE_DATA_ROOT,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        clicks_topic=f"clicks-{suffix}",
        dlq_topic=f"clicks-dlq-{suffix}",
        clicks_partitions=2,
        flink_consumer_group=f"landing-{suffix}",
        feedback_postgres_url=pg,
        feedback_postgres_table=f"click_feedback_c{suffix}",
        flink_checkpoint_interval_s=2,
        flink_parallelism=2,
        flink_rest_port=free_port(),
        flink_rpc_port=free_port(),
    )
    reason = cluster_missing(settings)
    if reason:
        pytest.skip(reason)
    try:
        start_broker(settings)
        ensure_topics(settings)
        flink_cluster.start_cluster(settings)
        flink_submit.submit(settings, fresh=True)
        yield settings
    finally:
        flink_submit.cancel_landing(settings)
        flink_cluster.stop_cluster(settings)
        stop_broker(settings)
        if pg:
            import psycopg

            with psycopg.connect(pg, autocommit=True) as conn:
                conn.execute(f"DROP TABLE IF EXISTS {settings.feedback_postgres_table}")


@pytest.fixture
def own_database() -> Iterator[str]:
    """A fresh database name on the profile's PostgreSQL (settings.postgres_url), dropped at the end."""
    if not postgres_available():
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    from infra.cluster import postgres

    name = f"movierec_t{uuid.uuid4().hex[:10]}"
    yield name
    postgres.drop_database(Settings(), name)
