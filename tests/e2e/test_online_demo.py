"""The online A/B demo against real components: a tansu broker, the long-running Flink online job, `bentoml serve`
and an MLflow registry. In the simulated population the online policy promotes a truly better challenger and
refuses a worse one; every impression and click the driver sent is landed exactly once."""

from __future__ import annotations

import dataclasses
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.demo_models import Aliases, read_aliases, set_aliases, train_versions, write_population_history
from infra.flink_job import ONLINE, start_job, stop_job
from pipelines.kafka_config import ensure_topics
from tests.helpers import free_port, small_settings
from tests.plugins.serving import serving_process

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory, broker_settings):
    """Own topics, var dir and registry; the demo's two versions; the online job and the service running."""
    suffix = uuid.uuid4().hex[:8]
    settings = small_settings(
        tmp_path_factory.mktemp("online-demo") / "var", kafka_bootstrap=broker_settings.kafka_bootstrap,
        clicks_topic=f"demo-clicks-{suffix}", dlq_topic=f"demo-dlq-{suffix}",
        impressions_topic=f"demo-impressions-{suffix}", trending_topic=f"demo-trending-{suffix}",
        flink_online_consumer_group=f"demo-online-{suffix}", serving_port=free_port(), model_poll_interval_s=1.0,
        # a strong model that has learned tastes; short windows so the test waits seconds, not minutes
        epochs=10, embedding_dim=32, online_window_s=5, online_allowed_lateness_s=10, flink_checkpoint_interval_s=2,
        flink_parallelism=1, online_min_impressions=150,
        # the 144-user slice leaves 11 users per arm at the default 0.1: half the users per arm, fewer repeat visits
        ab_challenger_fraction=0.5,
    )  # fmt: skip
    ensure_topics(settings)
    write_population_history(settings)
    versions = train_versions(settings, tag="test")
    set_aliases(settings, Aliases(versions["strong"], None))  # the service needs a champion to start
    service = serving_process(settings, "demo-serving", settings.serving_port)
    service = dataclasses.replace(service, env={**service.env, **{
        f"MOVIEREC_{name.upper()}": str(getattr(settings, name))
        for name in ("clicks_topic", "dlq_topic", "impressions_topic", "trending_topic", "ab_challenger_fraction")
    }})  # fmt: skip
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            flink = pool.submit(start_job, settings, job=ONLINE)
            service.start(timeout=180)
            flink.result()
        yield settings, versions
    finally:
        service.stop()
        stop_job(settings, job=ONLINE)


def check_counts(result: dict, requests: int) -> None:
    rows = result["ctr_by_version"]
    assert result["wrong_arm"] == 0 and result["landed_complete"] and len(rows) == 2, result.get(
        "dead_letters"
    )
    assert sorted(row["arm"] for row in rows.values()) == ["challenger", "champion"]
    for row in rows.values():  # balanced arms, and exactly what was sent is landed (nothing lost or doubled)
        assert row["sent_impressions"] == requests // 2 == row["impressions"], row
        assert row["sent_clicks"] == row["clicks"], row


def test_online_policy_promotes_a_better_challenger_and_refuses_a_worse_one(demo_stack, tmp_path):
    from infra.demo_online import run

    settings, versions = demo_stack
    before = read_aliases(settings)
    better = run(settings, "better", 400, out=tmp_path / "better.json", tag="test", land_timeout=120)
    check_counts(better, 400)
    strong, weak = better["ctr_by_version"][versions["strong"]], better["ctr_by_version"][versions["weak"]]
    assert strong["arm"] == "challenger" and strong["expected_ctr_at_10"] > weak["expected_ctr_at_10"]
    assert better["decision"]["promoted"], better["decision"]["reason"]
    assert better["decision"]["challenger_version"] == versions["strong"]
    assert read_aliases(settings) == before, "the demo restores the aliases it found"
    assert (tmp_path / "better.json").exists()

    worse = run(settings, "worse", 400, tag="test", land_timeout=120)
    check_counts(worse, 400)
    assert worse["ctr_by_version"][versions["weak"]]["arm"] == "challenger"
    assert not worse["decision"]["promoted"]
    assert "does not beat the champion" in worse["decision"]["reason"], worse["decision"]["reason"]
    assert worse["decision"]["challenger_version"] == versions["weak"]
