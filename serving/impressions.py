"""Publishing impressions (what a response showed) to Kafka without ever delaying or failing the response.

A request only appends the encoded impression to a bounded in-memory deque (`offer`: no lock, no wake-up of another
thread, so no GIL hand-off per request); one thread moves what accumulated into a confluent-kafka producer every
`flush_interval_s` (the producer batches by `linger.ms` anyway). When the queue is full, or the broker does not take a message within
`message_timeout_s`, the impression is dropped and counted by reason: the counts are the `impressions` block of
GET /online/status and the `movierec_impressions_dropped_total` metric on /metrics.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Callable

from pipelines import kafka_config

log = logging.getLogger(__name__)

DROP_QUEUE_FULL = "queue_full"
DROP_BROKER = "broker"


class ImpressionPublisher:
    """Bounded, asynchronous, lossy by design: an impression is telemetry, a recommendation is the product."""

    def __init__(self, bootstrap: str, topic: str, max_queued: int, message_timeout_s: float = 10.0,
                 on_drop: Callable[[str], None] | None = None, flush_interval_s: float = 0.01):  # fmt: skip
        self.topic = topic
        self.max_queued = max_queued
        self.flush_interval_s = flush_interval_s
        self._pending: deque[tuple[bytes, bytes]] = deque()
        self._on_drop = on_drop
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self._producer = self._new_producer(bootstrap, message_timeout_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="impression-publisher", daemon=True)
        self._thread.start()

    @staticmethod
    def _new_producer(bootstrap: str, message_timeout_s: float):
        from confluent_kafka import Producer

        # acks=1, no idempotence: ordering and exactly-once do not matter for impressions (the job de-duplicates
        # by request_id); throughput and a bounded memory footprint do
        return Producer(kafka_config.producer_config(
            bootstrap, **kafka_config.SERVICE_CLIENT, **{
                "acks": "1", "enable.idempotence": False, "linger.ms": 20,
                "message.timeout.ms": int(message_timeout_s * 1000), "queue.buffering.max.messages": 100_000,
                "reconnect.backoff.max.ms": 1000,
            },
        ))  # fmt: skip

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1
        if what.startswith("dropped_") and self._on_drop is not None:
            self._on_drop(what.removeprefix("dropped_"))

    def offer(self, key: bytes, value: bytes) -> bool:
        """Queue one impression; False (and counted) when the queue is full. Never blocks."""
        if len(self._pending) >= self.max_queued:
            self._count(f"dropped_{DROP_QUEUE_FULL}")
            return False
        self._pending.append((key, value))  # atomic under the GIL
        return True

    def _delivered(self, err, _msg) -> None:
        self._count(f"dropped_{DROP_BROKER}" if err is not None else "published")

    def _drain(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            self._send_pending()
        self._send_pending()

    def _send_pending(self) -> None:
        """Everything queued so far into the producer, then serve its delivery reports."""
        while self._pending:
            key, value = self._pending.popleft()
            try:
                self._producer.produce(self.topic, value=value, key=key, on_delivery=self._delivered)
            except BufferError:  # librdkafka's own queue is full (long broker outage)
                self._count(f"dropped_{DROP_BROKER}")
        self._producer.poll(0)

    def status(self) -> dict[str, int]:
        with self._lock:
            counts = dict(self.counts)
        return {"queued": len(self._pending), "published": counts.get("published", 0),
                "dropped_queue_full": counts.get(f"dropped_{DROP_QUEUE_FULL}", 0),
                "dropped_broker": counts.get(f"dropped_{DROP_BROKER}", 0)}  # fmt: skip

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued within `timeout`; whatever the broker has not taken by then is counted as dropped."""
        self._stop.set()  # the drain loop sends what is still queued, then ends
        self._thread.join(timeout)
        unsent = len(self._pending) + self._producer.flush(timeout)
        self._pending.clear()
        for _ in range(unsent):
            self._count(f"dropped_{DROP_BROKER}")
