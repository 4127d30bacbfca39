"""Publishing click events to Kafka with a durable ack (acks=all, idempotent producer, keyed by user_id).

`publish()` returns a future that resolves when the broker acknowledged the event (delivery report) and
fails when it did not; the HTTP layer waits for it at most `click_ack_timeout_s` and answers 503 otherwise.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, InvalidStateError

from pipelines import kafka_config
from pipelines.events import ClickEvent

log = logging.getLogger(__name__)


class ClickNotAcknowledged(RuntimeError):
    """The broker did not acknowledge the event (unreachable, timed out or refused)."""


def _settle(fut: Future, result=None, exc: BaseException | None = None) -> None:
    """Resolve a future unless the waiter already gave up on it (cancelled after its timeout)."""
    try:
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)
    except InvalidStateError:
        pass


class ClickPublisher:
    """One confluent-kafka producer per process plus a thread that serves its delivery reports."""

    def __init__(self, bootstrap: str, topic: str, ack_timeout_s: float, partitions: int = 3):
        self.bootstrap = bootstrap
        self.topic = topic
        self.ack_timeout_s = ack_timeout_s
        self.partitions = partitions
        self._swap_lock = threading.Lock()
        self._fatal: str | None = None
        self._producer = self._new_producer()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve_reports, name="click-producer-poll", daemon=True)
        self._thread.start()
        self._reachable: tuple[float, bool, str | None] = (0.0, False, "not checked yet")
        self._topic_ready = False
        self.acked = 0
        self.failed = 0

    def _new_producer(self):
        from confluent_kafka import Producer

        # librdkafka gives up on a message at the same deadline the endpoint does, so an event we answered
        # 503 for is not delivered much later behind the client's back (the client retries it instead).
        return Producer(
            kafka_config.producer_config(
                self.bootstrap,
                **kafka_config.SERVICE_CLIENT,
                **{
                    "linger.ms": 1,
                    "message.timeout.ms": max(1000, int(self.ack_timeout_s * 1000)),
                    "reconnect.backoff.max.ms": 1000,
                },
            )
        )

    def _note_error(self, err) -> None:
        """A fatal idempotence error (e.g. PRODUCER_FENCED after a broker restart) poisons this producer."""
        from confluent_kafka import KafkaError

        if err.fatal() or err.code() == KafkaError.PRODUCER_FENCED:
            self._fatal = err.str()

    def _replace_if_fatal(self) -> None:
        """Swap in a fresh producer after a fatal error; the old one's queued events fail (-> 503, retried)."""
        with self._swap_lock:
            if self._fatal is None:
                return
            old, self._producer, reason, self._fatal = self._producer, self._new_producer(), self._fatal, None
        log.warning("recreated the click producer after a fatal error: %s", reason)
        old.purge()
        old.poll(0)

    def _serve_reports(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def publish(self, event: ClickEvent) -> Future[ClickEvent]:
        """Queue one event; the future resolves after the broker acked it (or fails with ClickNotAcknowledged)."""
        fut: Future[ClickEvent] = Future()
        self._replace_if_fatal()

        def on_delivery(err, _msg) -> None:
            if err is not None:
                self.failed += 1
                self._note_error(err)
                _settle(fut, exc=ClickNotAcknowledged(f"broker did not acknowledge the event: {err.str()}"))
            else:
                self.acked += 1
                _settle(fut, result=event)

        try:
            self._producer.produce(
                self.topic, key=event.kafka_key(), value=event.to_json_bytes(), on_delivery=on_delivery
            )
        except BufferError:
            _settle(fut, exc=ClickNotAcknowledged("producer queue is full (broker unreachable or too slow)"))
        except Exception as exc:  # noqa: BLE001 - KafkaException and the like
            _settle(fut, exc=ClickNotAcknowledged(f"could not queue the event: {exc}"))
        return fut

    def publish_and_wait(self, event: ClickEvent, timeout_s: float | None = None) -> ClickEvent:
        """Blocking form of publish(); raises ClickNotAcknowledged."""
        timeout_s = self.ack_timeout_s if timeout_s is None else timeout_s
        try:
            return self.publish(event).result(timeout=timeout_s)
        except TimeoutError:
            raise ClickNotAcknowledged(f"broker did not acknowledge within {timeout_s:g}s") from None

    def broker_status(self, max_age_s: float = 2.0) -> tuple[bool, str | None]:
        """(reachable, reason) from a metadata request, cached for max_age_s."""
        checked_at, ok, reason = self._reachable
        if time.monotonic() - checked_at < max_age_s:
            return ok, reason
        try:
            meta = self._producer.list_topics(timeout=1.5)
            ok, reason = bool(meta.brokers), None if meta.brokers else "no brokers in metadata"
        except Exception as exc:  # noqa: BLE001
            ok, reason = False, f"broker {self.bootstrap} unreachable: {exc}"
        self._reachable = (time.monotonic(), ok, reason)
        return ok, reason

    def ensure_topic(self) -> bool:
        """Create the click topic when missing (idempotent); False while the broker is unreachable."""
        if self._topic_ready:
            return True
        try:
            admin = kafka_config.admin(self.bootstrap, **{"socket.connection.setup.timeout.ms": 3000})
            kafka_config.create_missing_topics(admin, {self.topic: self.partitions}, timeout=5)
            self._topic_ready = True
        except Exception as exc:  # noqa: BLE001
            log.warning("could not ensure topic %s: %s", self.topic, exc)
        return self._topic_ready

    def close(self, flush_s: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self._producer.flush(flush_s)

    def stats(self) -> dict:
        return {
            "topic": self.topic,
            "acked": self.acked,
            "failed": self.failed,
            "queued": len(self._producer),
        }
