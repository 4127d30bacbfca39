"""Kafka client configuration shared by every streaming command (only bootstrap.servers is broker-specific).

Everything here works unchanged against real Apache Kafka; the only tansu-specific knowledge in this
package lives in `streaming.offsets` (how end offsets are obtained) and `streaming.broker` (how it starts).
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

# A first consumer-group join takes ~session.timeout/2 on tansu; short timeouts keep CLI commands snappy.
FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 2000}


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def producer(bootstrap: str, **overrides: Any) -> Producer:
    """Idempotent, acks=all producer (what the click endpoint and the tools use)."""
    conf = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "none",
    }
    return Producer({**conf, **overrides})


def consumer(bootstrap: str, group_id: str, **overrides: Any) -> Consumer:
    """A manually committing consumer (no auto-commit, read from the earliest offset when none is committed)."""
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        **FAST_GROUP,
    }
    return Consumer({**conf, **overrides})


def broker_reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    """True when a Kafka metadata request succeeds (the broker's readiness check)."""
    try:
        AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(timeout=timeout)
        return True
    except Exception:
        return False
