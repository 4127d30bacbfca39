"""The real tansu broker: topics as code, true end offsets, committed offsets and lag."""

from __future__ import annotations

import pytest
from confluent_kafka import TopicPartition

from infra.broker import broker_status, start_broker
from pipelines.kafka_config import consumer, ensure_topics, partition_count
from streaming.offsets import commit_offsets, high_watermarks, lag
from tests.streaming.helpers import produce, valid_events

pytestmark = pytest.mark.integration


def test_broker_is_managed_and_reused(broker_settings):
    status = broker_status(broker_settings)
    assert status["reachable"] and status["pid"]
    assert start_broker(broker_settings) == status["pid"]  # second start reuses the PID


def test_topics_are_created_once(stream_settings):
    assert ensure_topics(stream_settings) == {
        stream_settings.clicks_topic: "exists",
        stream_settings.dlq_topic: "exists",
        stream_settings.impressions_topic: "exists",
        stream_settings.trending_topic: "exists",
    }
    assert partition_count(stream_settings, stream_settings.clicks_topic) == 3


def test_high_watermarks_count_every_record_even_in_multi_record_batches(stream_settings):
    events = valid_events(2000)
    produce(stream_settings, events[:1000])
    produce(stream_settings, events[1000:])
    ends = high_watermarks(stream_settings.kafka_bootstrap, stream_settings.clicks_topic)
    assert sum(ends.values()) == 2000
    # ListOffsets(latest) is not trusted (tansu: newest batch base + 1): it must never exceed the true end
    probe = consumer(stream_settings.kafka_bootstrap, "probe")
    try:
        for p, end in ends.items():
            listed = probe.get_watermark_offsets(TopicPartition(stream_settings.clicks_topic, p), timeout=5)[
                1
            ]
            assert listed <= end
    finally:
        probe.close()


def test_lag_is_true_end_minus_committed(stream_settings):
    produce(stream_settings, valid_events(300))
    ends = high_watermarks(stream_settings.kafka_bootstrap, stream_settings.clicks_topic)
    group = stream_settings.flink_consumer_group
    commit_offsets(
        stream_settings.kafka_bootstrap,
        group,
        stream_settings.clicks_topic,
        {p: e // 2 for p, e in ends.items()},
    )
    report = lag(stream_settings.kafka_bootstrap, group, stream_settings.clicks_topic)
    assert {p: r["lag"] for p, r in report.items()} == {p: e - e // 2 for p, e in ends.items()}
