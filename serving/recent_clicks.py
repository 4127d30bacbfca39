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

from pipelines import kafka_config
from pipelines.events import InvalidEvent, parse_event

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


class ClickTopicFollower:
    """Background thread: reads the click topic (all partitions, no consumer group) into a RecentClicks.

    Starts at the first offset whose timestamp is within the window (`offsets_for_times`). On the tansu
    broker that lookup answers offset 0 (and its 'latest' offset is not the high watermark), so there it
    reads the topic from the beginning and drops events older than the window: correct, only slower.
    """

    def __init__(self, bootstrap: str, topic: str, state: RecentClicks, poll_timeout_s: float = 0.2):
        self.bootstrap = bootstrap
        self.topic = topic
        self.state = state
        self.poll_timeout_s = poll_timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.consumed = 0
        self.invalid = 0
        self.assigned_partitions: list[int] = []
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="click-topic-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _consumer(self):
        from confluent_kafka import Consumer

        # group.id is required by the client; we never subscribe/commit (offsets are assigned explicitly)
        return Consumer(
            kafka_config.consumer_config(
                self.bootstrap,
                "serving-recent-clicks-unused",
                **{
                    "enable.auto.offset.store": False,
                    "auto.offset.reset": "latest",  # librdkafka's default, as before: an out-of-range follower skips ahead
                    "fetch.wait.max.ms": 100,
                    "reconnect.backoff.max.ms": 2000,
                    **kafka_config.SERVICE_CLIENT,
                },
            )
        )

    def _assign(self, consumer) -> bool:
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, TopicPartition

        meta = consumer.list_topics(self.topic, timeout=3)
        topic_meta = meta.topics.get(self.topic)
        if topic_meta is None or topic_meta.error is not None or not topic_meta.partitions:
            return False
        partitions = sorted(topic_meta.partitions)
        start_ms = int(time.time() * 1000) - self.state.window_ms
        try:
            found = consumer.offsets_for_times(
                [TopicPartition(self.topic, p, start_ms) for p in partitions], timeout=5
            )
            offsets = [tp.offset if tp.offset >= 0 else OFFSET_END for tp in found]
        except Exception as exc:  # noqa: BLE001 - a broker without timestamp lookup: read everything
            log.info("offsets_for_times failed (%s); reading %s from the beginning", exc, self.topic)
            offsets = [OFFSET_BEGINNING] * len(partitions)
        consumer.assign([TopicPartition(self.topic, p, o) for p, o in zip(partitions, offsets, strict=True)])
        self.assigned_partitions = partitions
        log.info("following %s partitions %s from offsets %s", self.topic, partitions, offsets)
        return True

    def _run(self) -> None:
        consumer = None
        while not self._stop.is_set():
            try:
                if consumer is None:
                    consumer = self._consumer()
                if not self.assigned_partitions and not self._assign(consumer):
                    self._stop.wait(1.0)
                    continue
                msg = consumer.poll(self.poll_timeout_s)
                if msg is None:
                    continue
                if msg.error() is not None:
                    self.last_error = str(msg.error())
                    continue
                self._apply(msg.value(), msg.timestamp()[1])
            except Exception as exc:  # noqa: BLE001 - keep following; the broker may come back
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("click follower: %s", self.last_error)
                self._stop.wait(1.0)
        if consumer is not None:
            consumer.close()

    def _apply(self, raw: bytes | None, recorded_ms: int | None = None) -> None:
        if raw is None:
            return
        try:
            event = parse_event(raw, max_future_skew_s=10**9)
        except InvalidEvent:
            self.invalid += 1
            return
        self.consumed += 1
        # the window counts from when the click was recorded (the record's timestamp), not from the event
        # time a client may have sent (the legacy API sends epoch seconds that can be old)
        recorded = recorded_ms if recorded_ms and recorded_ms > 0 else event.ts
        self.state.add(event.user_id, event.movie_id, recorded, event.event)

    def stats(self) -> dict:
        return {
            "topic": self.topic,
            "partitions": self.assigned_partitions,
            "consumed": self.consumed,
            "invalid": self.invalid,
            "last_error": self.last_error,
        }
