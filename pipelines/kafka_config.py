"""Kafka client configs and topics as code: the one place every producer, consumer and topic creator reads.

Here (floor 0) rather than in streaming/ because serving publishes clicks too and may import only `pipelines`.
Everything works unchanged against real Apache Kafka; the only tansu-specific knowledge lives in
`streaming.offsets` (how end offsets are obtained) and `infra.broker` (how it starts). confluent_kafka is
imported lazily, so processes that never talk to Kafka (Airflow tasks, the Flink job) need not load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient

    from pipelines.settings import Settings

# Durable, ordered-per-key publishing: the click endpoint's ack means the event is on every in-sync replica.
PRODUCER = {"acks": "all", "enable.idempotence": True, "linger.ms": 5, "compression.type": "none"}
# A first consumer-group join takes ~session.timeout/2 on tansu; short timeouts keep CLI commands snappy.
FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 2000}
# Manual commits only, from the earliest offset when the group has none.
CONSUMER = {"enable.auto.commit": False, "auto.offset.reset": "earliest", **FAST_GROUP}
# Long-lived clients inside the service: fail fast while the broker is away, reconnect soon, log errors only.
SERVICE_CLIENT = {"socket.connection.setup.timeout.ms": 3000, "log_level": 2}


def admin_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap, **overrides}


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """Idempotent, acks=all producer (the click endpoint, the load generator, DLQ replay and the tools)."""
    return {"bootstrap.servers": bootstrap, **PRODUCER, **overrides}


def consumer_config(bootstrap: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    """A manually committing consumer (no auto-commit, read from the earliest offset when none is committed)."""
    return {"bootstrap.servers": bootstrap, "group.id": group_id, **CONSUMER, **overrides}


def admin(bootstrap: str, **overrides: Any) -> AdminClient:
    from confluent_kafka.admin import AdminClient

    return AdminClient(admin_config(bootstrap, **overrides))


def producer(bootstrap: str, **overrides: Any) -> Producer:
    from confluent_kafka import Producer

    return Producer(producer_config(bootstrap, **overrides))


def consumer(bootstrap: str, group_id: str, **overrides: Any) -> Consumer:
    from confluent_kafka import Consumer

    return Consumer(consumer_config(bootstrap, group_id, **overrides))


def broker_reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    """True when a Kafka metadata request succeeds (the broker's readiness check)."""
    try:
        admin(bootstrap, log_level=0).list_topics(timeout=timeout)
        return True
    except Exception:  # noqa: BLE001 - any failure (timeout, refused, bad address) means "not ready"
        return False


# --- topics as code: the clicks topic (keyed by user) and its dead-letter topic --------------------------------


def topic_specs(settings: Settings) -> dict[str, int]:
    """Topic name -> partition count."""
    return {settings.clicks_topic: settings.clicks_partitions, settings.dlq_topic: 1,
            settings.impressions_topic: settings.impressions_partitions, settings.trending_topic: 1}  # fmt: skip


def create_missing_topics(
    client: AdminClient, specs: dict[str, int], timeout: float = 15.0
) -> dict[str, str]:
    """Create the topics of `specs` that do not exist; {topic: "created" | "exists"}. Never changes a topic."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    existing = client.list_topics(timeout=timeout).topics
    result = {name: "exists" for name in specs if name in existing}
    missing = [NewTopic(name, parts, 1) for name, parts in specs.items() if name not in existing]
    if not missing:
        return result
    for name, future in client.create_topics(missing, request_timeout=timeout).items():
        try:
            future.result()
            result[name] = "created"
        except KafkaException as exc:  # a concurrent creator won the race
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
            result[name] = "exists"
    return result


def ensure_topics(settings: Settings, timeout: float = 15.0) -> dict[str, str]:
    """Create the project's topics when missing; {topic: "created" | "exists"}."""
    return create_missing_topics(admin(settings.kafka_bootstrap), topic_specs(settings), timeout)


def partition_count(settings: Settings, topic: str, timeout: float = 10.0) -> int:
    meta = admin(settings.kafka_bootstrap).list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        raise RuntimeError(f"topic {topic!r} does not exist on {settings.kafka_bootstrap}")
    return len(meta.partitions)
