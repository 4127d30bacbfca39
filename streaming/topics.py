"""Topics as code: the clicks topic (keyed by user) and its dead-letter topic, created idempotently."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic

from pipelines.settings import Settings
from streaming.kafka import admin


def topic_specs(settings: Settings) -> dict[str, int]:
    """Topic name -> partition count."""
    return {settings.clicks_topic: settings.clicks_partitions, settings.dlq_topic: 1}


def ensure_topics(settings: Settings, timeout: float = 15.0) -> dict[str, str]:
    """Create missing topics; returns {topic: "created" | "exists"}. Never changes an existing topic."""
    client = admin(settings.kafka_bootstrap)
    existing = client.list_topics(timeout=timeout).topics
    result = {name: "exists" for name in topic_specs(settings) if name in existing}
    missing = [
        NewTopic(name, parts, 1) for name, parts in topic_specs(settings).items() if name not in existing
    ]
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


def partition_count(settings: Settings, topic: str, timeout: float = 10.0) -> int:
    meta = admin(settings.kafka_bootstrap).list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        raise RuntimeError(f"topic {topic!r} does not exist on {settings.kafka_bootstrap}")
    return len(meta.partitions)
