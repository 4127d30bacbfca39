"""Bounded in-memory state of each user's fresh clicks (excluded from their next recommendations).

Every replica fills it from two sides: its own acknowledged clicks (immediately) and the click topic
(`ClickTopicFollower`, so clicks taken by other replicas show up within a poll interval).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pipelines.events import InvalidEvent, parse_event
from serving.topic_follower import TopicFollower

log = logging.getLogger(__name__)


@dataclass
class _UserClicks:
    by_movie: dict[int, tuple[int, str]]  # movie_id -> (newest click ts in ms, its event type); newest last


class RecentClicks:
    """Thread-safe, bounded (users LRU + clicks per user + age window) map user -> recently clicked movies."""

    def __init__(
        self,
        window_s: float,
        max_users: int,
        per_user: int,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ):
        self.window_ms = int(window_s * 1000)
        self.max_users = max_users
        self.per_user = per_user
        self._clock_ms = clock_ms
        self._users: OrderedDict[int, _UserClicks] = OrderedDict()
        self._lock = threading.Lock()
        self.added = 0

    def add(self, user_id: int, movie_id: int, ts_ms: int, event: str = "click") -> bool:
        """Record one click/like/watch recorded at ts_ms; False when already older than the window (ignored)."""
        if ts_ms < self._clock_ms() - self.window_ms:
            return False
        with self._lock:
            entry = self._users.get(user_id)
            if entry is None:
                entry = self._users[user_id] = _UserClicks({})
                while len(self._users) > self.max_users:
                    self._users.popitem(last=False)
            else:
                self._users.move_to_end(user_id)
            if ts_ms >= entry.by_movie.get(movie_id, (-1, ""))[0]:
                entry.by_movie.pop(movie_id, None)
                entry.by_movie[movie_id] = (ts_ms, event)  # newest last (dicts keep insertion order)
            while len(entry.by_movie) > self.per_user:
                entry.by_movie.pop(next(iter(entry.by_movie)))
            self.added += 1
        return True

    def events(self, user_id: int) -> list[tuple[int, str]]:
        """(movie_id, event) of this user's clicks within the window, oldest first (the fold-in's input)."""
        cutoff = self._clock_ms() - self.window_ms
        with self._lock:
            entry = self._users.get(user_id)
            if entry is None:
                return []
            return [(m, event) for m, (ts, event) in entry.by_movie.items() if ts >= cutoff]

    def movies(self, user_id: int) -> frozenset[int]:
        """Movies this user clicked within the window."""
        return frozenset(m for m, _ in self.events(user_id))

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "users": len(self._users),
                "clicks": sum(len(e.by_movie) for e in self._users.values()),
                "added_total": self.added,
            }


class ClickTopicFollower(TopicFollower):
    """Background thread: reads the click topic (all partitions, no consumer group) into a RecentClicks.

    Starts at the first offset whose timestamp is within the window; on tansu it reads the topic from the
    beginning and drops events older than the window: correct, only slower (serving.topic_follower).
    """

    def __init__(self, bootstrap: str, topic: str, state: RecentClicks, poll_timeout_s: float = 0.2):
        super().__init__(
            bootstrap, topic, self._apply, state.window_ms, "click-topic-follower", poll_timeout_s
        )
        self.state = state
        self.invalid = 0

    def _apply(self, raw: bytes | None, recorded_ms: int | None = None) -> None:
        if raw is None:
            return
        try:
            event = parse_event(raw, max_future_skew_s=10**9)
        except InvalidEvent:
            self.invalid += 1
            log.warning("click follower: skipped a malformed record %r", raw[:200])
            return
        # the window counts from when the click was recorded (the record's timestamp), not from the event
        # time a client may have sent (the legacy API sends epoch seconds that can be old)
        recorded = recorded_ms if recorded_ms and recorded_ms > 0 else event.ts
        self.state.add(event.user_id, event.movie_id, recorded, event.event)

    def stats(self) -> dict:
        return {**super().stats(), "invalid": self.invalid}
