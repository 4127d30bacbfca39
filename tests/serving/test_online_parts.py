"""The online-evaluation parts of a replica, without a running service: trending state and its cold-start blend,
the impression publisher's accounting when the broker is down."""

from __future__ import annotations

import json
import time

import pytest

from infra.processes import free_port
from serving.impressions import ImpressionPublisher
from serving.trending import TrendingState


def _row(movie: int, end: int, clicks: int = 0, likes: int = 0) -> bytes:
    return json.dumps({"movie_id": movie, "window_end": end, "clicks": clicks, "likes": likes}).encode()


def test_trending_keeps_the_newest_window_and_skips_bad_records():
    state = TrendingState()
    assert state.latest() == (None, {}) and state.top(5) == [] and state.boosts(0.5) == {}
    for raw in (
        _row(1, 1000, clicks=5),
        _row(2, 1000, likes=1),
        _row(1, 2000, clicks=1),
        _row(3, 2000, likes=4),
    ):
        state.apply(raw)
    state.apply(b"{not json")
    state.apply(b'{"movie_id": 1}')
    assert state.invalid == 2
    assert state.latest()[0] == 2000
    assert state.top(5) == [(3, 0, 4), (1, 1, 0)]  # likes weigh double
    boosts = state.boosts(0.5)
    assert boosts[3] == pytest.approx(0.5) and 0 < boosts[1] < boosts[3] and 2 not in boosts
    for end in (3000, 4000, 5000):
        state.apply(_row(9, end, clicks=1))
    assert len(state._by_window) == 2  # bounded: the newest window and the one before


def test_impressions_never_block_and_a_broker_outage_is_counted():
    publisher = ImpressionPublisher(f"127.0.0.1:{free_port()}", "movie-impressions", max_queued=1000,
                                    message_timeout_s=1.0)  # fmt: skip
    try:
        started = time.perf_counter()
        accepted = sum(publisher.offer(b"1", b'{"x": %d}' % i) for i in range(200))
        assert time.perf_counter() - started < 0.5  # offering is a queue put, whatever the broker does
        deadline = time.monotonic() + 15
        while publisher.status()["dropped_broker"] < accepted and time.monotonic() < deadline:
            time.sleep(0.2)
        status = publisher.status()
        assert status["dropped_broker"] + status["dropped_queue_full"] == 200 and status["published"] == 0
    finally:
        publisher.close(timeout=2)


def test_a_full_impression_queue_drops_and_counts_without_blocking():
    publisher = ImpressionPublisher(f"127.0.0.1:{free_port()}", "movie-impressions", max_queued=5,
                                    message_timeout_s=1.0, flush_interval_s=3600)  # fmt: skip
    try:
        accepted = [publisher.offer(b"1", b'{"x": %d}' % i) for i in range(8)]
        assert accepted == [True] * 5 + [False] * 3
        status = publisher.status()
        assert (status["queued"], status["dropped_queue_full"], status["published"]) == (5, 3, 0)
    finally:
        publisher.close(timeout=2)
    status = publisher.status()  # close hands what was queued to the producer; the broker never took it
    assert (status["queued"], status["dropped_broker"], status["published"]) == (0, 5, 0)
