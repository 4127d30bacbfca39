"""A background thread that reads every partition of one topic (no consumer group, nothing committed) and hands
each record to a callback: how every replica keeps its own copy of a small stream-derived state.

Starts at the first offset whose timestamp is at most `lookback_ms` old (`offsets_for_times`). On the tansu
broker that lookup answers offset 0, so there it reads the topic from the beginning: correct, only slower.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pipelines import kafka_config
from pipelines.watermark_ticks import is_tick

log = logging.getLogger(__name__)


class TopicFollower:
    def __init__(self, bootstrap: str, topic: str, apply: Callable[[bytes, int | None], None], lookback_ms: int,
                 name: str, poll_timeout_s: float = 0.2):  # fmt: skip
        self.bootstrap, self.topic, self.apply, self.lookback_ms = bootstrap, topic, apply, lookback_ms
        self.name, self.poll_timeout_s = name, poll_timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.consumed = 0
        self.assigned_partitions: list[int] = []
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _consumer(self):
        from confluent_kafka import Consumer

        # group.id is required by the client; we never subscribe/commit (offsets are assigned explicitly)
        return Consumer(kafka_config.consumer_config(self.bootstrap, f"{self.name}-unused", **{
            "enable.auto.offset.store": False, "auto.offset.reset": "latest", "fetch.wait.max.ms": 100,
            "reconnect.backoff.max.ms": 2000, **kafka_config.SERVICE_CLIENT,
        }))  # fmt: skip

    def _assign(self, consumer) -> bool:
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, TopicPartition

        topic_meta = consumer.list_topics(self.topic, timeout=3).topics.get(self.topic)
        if topic_meta is None or topic_meta.error is not None or not topic_meta.partitions:
            return False
        partitions = sorted(topic_meta.partitions)
        start_ms = int(time.time() * 1000) - self.lookback_ms
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
                if msg.value() is not None and not is_tick(msg.key(), msg.value()):
                    self.consumed += 1
                    self.apply(msg.value(), msg.timestamp()[1])
            except Exception as exc:  # noqa: BLE001 - keep following; the broker may come back
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("%s: %s", self.name, self.last_error)
                self._stop.wait(1.0)
        if consumer is not None:
            consumer.close()

    def stats(self) -> dict:
        return {"topic": self.topic, "partitions": self.assigned_partitions, "consumed": self.consumed,
                "last_error": self.last_error}  # fmt: skip
