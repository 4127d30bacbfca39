"""Shared streaming fixtures (a pytest plugin; registered in tests/conftest.py).

One real tansu broker per session (free port), unique topics/tables per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.broker import start_broker, stop_broker
from pipelines.kafka_config import ensure_topics
from pipelines.settings import Settings
from streaming.online_sql import online_table
from tests.helpers import FIXTURE_DATA_ROOT, free_port

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def broker_settings(tmp_path_factory) -> Iterator[Settings]:
    """A tansu broker on a free loopback port for the whole session, stopped by PID at the end."""
    settings = Settings(
        var_dir=tmp_path_factory.mktemp("broker") / "var", kafka_bootstrap=f"127.0.0.1:{free_port()}"
    )
    start_broker(settings)
    yield settings
    stop_broker(settings)


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - no PostgreSQL here: the JDBC sink is skipped
        return False


@pytest.fixture
def online_settings(stream_settings: Settings) -> Settings:
    """stream_settings with one-partition topics, parallelism 1 and short windows: a deterministic online job.

    With one partition per topic and watermarks emitted on every event, which events are late depends only on
    the order they were produced in.
    """
    suffix = uuid.uuid4().hex[:10]
    settings = stream_settings.model_copy(
        update={
            "clicks_topic": f"oclicks-{suffix}", "clicks_partitions": 1, "impressions_topic": f"oimpressions-{suffix}",
            "impressions_partitions": 1, "trending_topic": f"otrending-{suffix}", "flink_parallelism": 1,
            "online_window_s": 60, "online_allowed_lateness_s": 30, "attribution_window_s": 600,
            "trending_window_s": 120, "trending_slide_s": 60,
            # fixture streams use fixed past timestamps; wall-clock ticks would make them late (test_online_ticks)
            "watermark_tick_s": 0,
        }
    )  # fmt: skip
    ensure_topics(settings)
    return settings


@pytest.fixture
def stream_settings(broker_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings on the shared broker with this test's own topics, var dir and PostgreSQL table (dropped after)."""
    suffix = uuid.uuid4().hex[:10]
    pg = PG_URL if postgres_available() else None
    settings = Settings(
        var_dir=tmp_path / "var",
        data_root=FIXTURE_DATA_ROOT,
        kafka_bootstrap=broker_settings.kafka_bootstrap,
        clicks_topic=f"clicks-{suffix}",
        dlq_topic=f"clicks-dlq-{suffix}",
        flink_consumer_group=f"landing-{suffix}",
        feedback_postgres_url=pg,
        feedback_postgres_table=f"click_feedback_t{suffix}",
        online_postgres_table=f"online_metrics_t{suffix}",
        impressions_topic=f"impressions-{suffix}",
        trending_topic=f"trending-{suffix}",
        flink_online_consumer_group=f"online-{suffix}",
        flink_checkpoint_interval_s=2,
        flink_parallelism=2,
    )
    ensure_topics(settings)
    yield settings
    if pg:
        import psycopg

        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {settings.feedback_postgres_table}")
            conn.execute(f"DROP TABLE IF EXISTS {online_table(settings)}")
