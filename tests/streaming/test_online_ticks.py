"""Real broker + real PyFlink: with watermark ticks, the online job counts every event at parallelism 2.

Without ticks, a partition with no events is marked idle and the watermark moves on without it; after an idle
period, parallel instances resume independently and windows dropped events without a trace (issue 14; measured
in benchmarks/RESULTS.md). Here traffic comes in bursts with idle gaps longer than the no-tick idle timeout, on
two partitions per topic at parallelism 2; the ticker (pipelines.watermark_ticks) runs inside the job.
"""

from __future__ import annotations

import time

import pytest

from infra import flink_job
from pipelines.events import ClickEvent
from pipelines.impressions import ImpressionEvent
from pipelines.kafka_config import ensure_topics, producer
from pipelines.online_metrics import UNATTRIBUTED, arm_totals, read_online_metrics
from pipelines.settings import Settings
from pipelines.watermark_ticks import is_tick
from streaming.dlq import read_dlq
from tests.helpers import read_topic, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BURSTS, IDLE_S = 3, 8  # > the idle timeout without ticks (max(lateness, 5 s))


def burst(k: int) -> tuple[list[ImpressionEvent], list[ClickEvent]]:
    """4 impressions (2 per arm, items 1..12: position = movie id) and 6 clicks, all stamped now: 4 by
    request_id (positions 2, 11, 1, 3), 1 by user + movie (position 5), 1 by user + movie on a movie never shown
    (unattributed)."""
    now = int(time.time() * 1000)
    imps = [ImpressionEvent(user_id=1000 * (k + 1) + u, model_name="movierec", model_version="1" if u < 2 else "2",
                            variant="champion" if u < 2 else "challenger", strategy="personalized",
                            items=list(range(1, 13)), ts=now + u) for u in range(4)]  # fmt: skip
    clicks = [ClickEvent(user_id=i.user_id, movie_id=m, ts=now + 10 + u, request_id=i.request_id)
              for u, (i, m) in enumerate(zip(imps, (2, 11, 1, 3), strict=True))]  # fmt: skip
    clicks.append(ClickEvent(user_id=imps[0].user_id, movie_id=5, ts=now + 20))
    clicks.append(ClickEvent(user_id=imps[1].user_id, movie_id=99, ts=now + 21))
    return imps, clicks


def test_parallel_job_with_ticks_counts_every_event_after_idle_gaps(online_settings: Settings):
    s = online_settings.model_copy(update={
        "clicks_topic": online_settings.clicks_topic + "-p2", "impressions_topic": online_settings.impressions_topic
        + "-p2", "clicks_partitions": 2, "impressions_partitions": 2, "flink_online_parallelism": 2,
        "online_window_s": 5, "online_allowed_lateness_s": 10, "watermark_tick_s": 0.5,
    })  # fmt: skip
    ensure_topics(s)
    prod = producer(s.kafka_bootstrap)
    sent_imps, sent_clicks = [], []
    flink_job.start_job(s, job=flink_job.ONLINE)
    try:
        for k in range(BURSTS):
            imps, clicks = burst(k)
            for e in imps:
                prod.produce(s.impressions_topic, key=e.kafka_key(), value=e.to_json_bytes())
            for e in clicks:
                prod.produce(s.clicks_topic, key=e.kafka_key(), value=e.to_json_bytes())
            assert prod.flush(30) == 0
            sent_imps += imps
            sent_clicks += clicks
            time.sleep(IDLE_S)
        want = {
            "champion": (2 * BURSTS, 3 * BURSTS, 2 * BURSTS),
            "challenger": (2 * BURSTS, 2 * BURSTS, 2 * BURSTS),
        }

        def totals() -> dict:
            t = arm_totals(read_online_metrics(s))
            return {arm: (t[arm]["impressions"], t[arm]["clicks"], t[arm]["clicks_at_10"]) for arm in want}

        wait_until(lambda: totals() == want, timeout=150, interval=1, what=f"every window landed ({want})")
        time.sleep(2 * s.flink_checkpoint_interval_s)  # a double count would show up by now
        df = read_online_metrics(s)
        assert totals() == want
        assert int(df[df["variant"] == UNATTRIBUTED]["clicks"].sum()) == BURSTS
        assert list(read_dlq(s)) == [], "no event of this stream is late: none may be dead-lettered"
        ticks = read_topic(s.kafka_bootstrap, s.clicks_topic, 2, want=len(sent_clicks) + 4, timeout=10)
        assert sum(is_tick(m.key(), m.value()) for m in ticks) >= 2, (
            "the job's ticker writes into every partition"
        )
    finally:
        flink_job.stop_job(s, job=flink_job.ONLINE)
