"""Dead-letter topic: read rejected events and replay them to their topic after a fix.

Records of the landing job are rejected clicks ({reason, payload, kafka_partition, kafka_offset, rejected_at}).
Records of the online job also carry `topic` (where the payload was read) and `kind`: "invalid" (a bad
impression) or "late" (a valid event behind the watermark, dropped from the online windows and counted here;
the landing job landed it if it is a click, so it is never replayed).
"""

from __future__ import annotations

import json

from confluent_kafka import TopicPartition

from pipelines.events import InvalidEvent, parse_event
from pipelines.impressions import parse_impression
from pipelines.kafka_config import consumer, producer
from pipelines.settings import Settings
from streaming.offsets import commit_offsets, high_watermarks

REPLAY_GROUP = "movierec-dlq-replay"


def read_dlq(
    settings: Settings, group_id: str | None = None, timeout: float = 15.0
) -> list[tuple[int, int, dict]]:
    """DLQ records up to the true end: (partition, offset, record) from the group's committed offsets
    (from the start when group_id is None)."""
    ends = high_watermarks(settings.kafka_bootstrap, settings.dlq_topic)
    client = consumer(settings.kafka_bootstrap, group_id or "movierec-dlq-reader")
    try:
        starts = {p: 0 for p in ends}
        if group_id:
            for tp in client.committed(
                [TopicPartition(settings.dlq_topic, p) for p in ends], timeout=timeout
            ):
                starts[tp.partition] = max(tp.offset, 0)
        todo = {p for p in ends if starts[p] < ends[p]}
        client.assign([TopicPartition(settings.dlq_topic, p, starts[p]) for p in todo])
        records = []
        while todo:
            msg = client.poll(timeout)
            if msg is None:
                raise TimeoutError(f"DLQ read stalled; missing partitions {todo}")
            if msg.error():
                raise RuntimeError(str(msg.error()))
            records.append((msg.partition(), msg.offset(), json.loads(msg.value())))
            if msg.offset() + 1 >= ends[msg.partition()]:
                todo.discard(msg.partition())
        return records
    finally:
        client.close()


def replay_dlq(settings: Settings, include_invalid: bool = False) -> dict:
    """Re-publish DLQ payloads to their topic (clicks unless the record names the impressions topic); by default
    only those that validate now (after a fix). Late events (kind "late") are never replayed.

    Progress is committed in the REPLAY_GROUP so a second replay does not re-publish the same records.
    """
    records = read_dlq(settings, REPLAY_GROUP)
    prod = producer(settings.kafka_bootstrap)
    replayed = still_invalid = late = 0
    for _, _, record in records:
        if record.get("kind") == "late":
            late += 1
            continue
        payload = record.get("payload")
        impression = record.get("topic") == settings.impressions_topic
        topic = settings.impressions_topic if impression else settings.clicks_topic
        try:
            if impression:
                key = parse_impression(payload or "").kafka_key()
            else:
                key = parse_event(payload or "", max_future_skew_s=settings.max_future_skew_s).kafka_key()
        except InvalidEvent:
            still_invalid += 1
            if not include_invalid or payload is None:
                continue
            key = None
        prod.produce(topic, key=key, value=payload.encode())
        replayed += 1
    if prod.flush(30):
        raise RuntimeError("replay: some events were not delivered; nothing committed")
    if records:
        last: dict[int, int] = {}
        for partition, offset, _ in records:
            last[partition] = max(last.get(partition, -1), offset + 1)
        commit_offsets(settings.kafka_bootstrap, REPLAY_GROUP, settings.dlq_topic, last)
    return {"read": len(records), "replayed": replayed, "still_invalid": still_invalid, "late_skipped": late}
