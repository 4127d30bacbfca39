"""The click publisher and the recent-clicks follower against a real tansu broker."""

from __future__ import annotations

import json
import time

import pytest

from infra.processes import free_port
from pipelines.events import ClickEvent
from pipelines.watermark_ticks import Ticker, is_tick
from serving.clicks import ClickNotAcknowledged, ClickPublisher
from serving.recent_clicks import ClickTopicFollower, RecentClicks
from tests.helpers import read_topic, wait_until

pytestmark = pytest.mark.integration


def test_publish_is_acked_keyed_by_user_and_followed(broker):
    topic = "clicks-unit"
    publisher = ClickPublisher(broker, topic, ack_timeout_s=5, partitions=3)
    state = RecentClicks(3600, 100, 100)
    follower = ClickTopicFollower(broker, topic, state, poll_timeout_s=0.1)
    try:
        assert publisher.ensure_topic()
        assert publisher.broker_status(max_age_s=0) == (True, None)
        follower.start()
        events = [ClickEvent(user_id=u, movie_id=m, event="like") for u, m in ((7, 1), (7, 2), (8, 3))]
        for ev in events:
            assert publisher.publish_and_wait(ev) == ev
        wait_until(lambda: state.movies(7) == {1, 2} and state.movies(8) == {3}, 5, what="follower caught up")
        records = read_topic(broker, topic, 3, want=3)
        by_id = {json.loads(r.value())["event_id"]: r for r in records}
        assert set(by_id) == {str(e.event_id) for e in events}
        assert {r.key() for r in records} == {b"7", b"8"}
        # keyed by user: one user's clicks land in one partition, in order
        assert len({r.partition() for r in records if r.key() == b"7"}) == 1
    finally:
        follower.stop()
        publisher.close()


def test_watermark_ticks_reach_every_partition_and_the_follower_skips_them(broker):
    topic = "clicks-ticks"
    publisher = ClickPublisher(broker, topic, ack_timeout_s=5, partitions=3)
    state = RecentClicks(3600, 100, 100)
    follower = ClickTopicFollower(broker, topic, state, poll_timeout_s=0.1)
    ticker = Ticker(broker, [topic], interval_s=0.2)
    try:
        assert publisher.ensure_topic()
        follower.start()
        ticker.start()
        wait_until(lambda: ticker.sent >= 6, 10, what="two rounds of ticks")
        assert publisher.publish_and_wait(ClickEvent(user_id=9, movie_id=4, event="like"))
        wait_until(lambda: state.movies(9) == {4}, 5, what="follower caught up")
        ticks = [r for r in read_topic(broker, topic, 3, want=ticker.sent + 1) if is_tick(r.key(), r.value())]
        assert {r.partition() for r in ticks} == {0, 1, 2} and ticker.last_error is None
        assert follower.consumed == 1, "ticks are no clicks"
    finally:
        ticker.stop()
        follower.stop()
        publisher.close()


def test_unreachable_broker_is_not_acknowledged_within_the_timeout():
    publisher = ClickPublisher(f"127.0.0.1:{free_port()}", "clicks-nowhere", ack_timeout_s=1.0)
    try:
        started = time.monotonic()
        with pytest.raises(ClickNotAcknowledged):
            publisher.publish_and_wait(ClickEvent(user_id=1, movie_id=1))
        assert time.monotonic() - started < 3.0
        ok, reason = publisher.broker_status(max_age_s=0)
        assert not ok and "unreachable" in reason
    finally:
        publisher.close(flush_s=0)
