"""Watermark ticks: a tiny record in every partition of the online job's topics, every `watermark_tick_s`.

Why: Flink keeps one watermark per Kafka partition and moves on with the minimum. A partition without events
would hold it forever, so the source marks such partitions idle after a timeout and moves on without them; when
one resumes, its events can be older than what operators further down have already passed, and their windows
drop them without a trace (issue 14: after every partition was idle, and at any parallelism above 1). A tick in
every partition keeps every partition active, so a watermark never overtakes an event its source let through,
at any parallelism. Ticks carry the producer's wall clock as `ts`; the jobs drop them right after the watermark
is taken (streaming.online_sql, streaming.fast_path), and the service's click follower skips them.

Here (floor 0) because the service's follower must recognise them; the online job runs the Ticker.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pipelines import kafka_config

if TYPE_CHECKING:
    from pipelines.settings import Settings

log = logging.getLogger(__name__)

TICK_KEY = b"__watermark_tick__"
TICK_PREFIX = '{"tick":true,'  # every tick payload starts with it (the SQL filters use it, see sql_is_tick)


def tick_payload(ts_ms: int) -> bytes:
    return f'{TICK_PREFIX}"ts":{int(ts_ms)}}}'.encode()


def is_tick(key: bytes | None, value: bytes | None = None) -> bool:
    """A record the ticker wrote (by key, or by payload when the key was lost)."""
    return key == TICK_KEY or (value is not None and value.startswith(TICK_PREFIX.encode()))


def sql_is_tick(payload_column: str = "payload") -> str:
    """Flink SQL: TRUE for a tick payload (a raw STRING column), never NULL."""
    return f"COALESCE({payload_column} LIKE '{TICK_PREFIX}%', FALSE)"


def tick_ts(value: bytes) -> int:
    return int(json.loads(value)["ts"])


class Ticker:
    """A daemon thread that writes one tick into every partition of `topics` every `interval_s` seconds.

    Partitions are re-read from the broker every `refresh_s`, so partitions added later get ticks too. A broker
    outage only delays ticks (the watermark waits; nothing is dropped); errors are kept in `last_error`.
    """

    def __init__(self, bootstrap: str, topics: Sequence[str], interval_s: float, refresh_s: float = 30.0):
        self.bootstrap, self.topics = bootstrap, list(topics)
        self.interval_s, self.refresh_s = interval_s, refresh_s
        self.sent = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Ticker:
        self._thread = threading.Thread(target=self._run, name="watermark-ticker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _partitions(self, producer: Any) -> dict[str, list[int]]:
        meta = producer.list_topics(timeout=5).topics
        return {t: sorted(meta[t].partitions) for t in self.topics if t in meta and meta[t].error is None}

    def _run(self) -> None:
        from confluent_kafka import Producer

        # losing a tick costs nothing (the next one comes interval_s later): no idempotence, no retries wait
        producer = Producer(kafka_config.producer_config(
            self.bootstrap, **{"acks": "1", "enable.idempotence": False, "linger.ms": 0,
                               "message.timeout.ms": 10_000, **kafka_config.SERVICE_CLIENT}))  # fmt: skip
        partitions: dict[str, list[int]] = {}
        refreshed = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() - refreshed > self.refresh_s or not partitions:
                    partitions, refreshed = self._partitions(producer), time.monotonic()
                value = tick_payload(int(time.time() * 1000))
                for topic, parts in partitions.items():
                    for p in parts:
                        producer.produce(topic, value=value, key=TICK_KEY, partition=p)
                        self.sent += 1
                producer.poll(0)
            except Exception as exc:  # noqa: BLE001 - keep ticking; the broker may come back
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("watermark ticker: %s", self.last_error)
            self._stop.wait(self.interval_s)
        producer.flush(2)


def online_ticker(settings: Settings) -> Ticker:
    """The ticker of the online job's topics (not started): the job's own thread, or streaming.ticker's process."""
    topics = [settings.impressions_topic, settings.clicks_topic]
    return Ticker(settings.kafka_bootstrap, topics, settings.watermark_tick_s)
