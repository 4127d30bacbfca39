"""True end offsets (high watermarks) and committed group offsets.

tansu answers ListOffsets(latest) with the newest batch's base offset + 1, not the high watermark, so
end offsets are read from a Fetch response instead: start fetching at the ListOffsets(latest) answer (at
most one batch before the end, and exactly the end on real Kafka), wait for one message or the
end-of-partition event per partition, then take the high watermark that the Fetch response carried.
The result is the true high watermark on both tansu and Apache Kafka.
"""

from __future__ import annotations

import time

from confluent_kafka import OFFSET_INVALID, KafkaError, TopicPartition

from pipelines.kafka_config import consumer

PROBE_GROUP = "movierec-offsets-probe"  # never commits, never subscribes


def high_watermarks(bootstrap: str, topic: str, timeout: float = 15.0) -> dict[int, int]:
    """{partition: high watermark} of `topic`, read from Fetch responses."""
    probe = consumer(bootstrap, PROBE_GROUP, **{"enable.partition.eof": True, "fetch.wait.max.ms": 50})
    try:
        meta = probe.list_topics(topic, timeout=timeout).topics[topic]
        if meta.error is not None:
            raise RuntimeError(f"topic {topic!r}: {meta.error}")
        parts = sorted(meta.partitions)
        starts = []
        for p in parts:
            low, listed_end = probe.get_watermark_offsets(
                TopicPartition(topic, p), timeout=timeout, cached=False
            )
            starts.append(TopicPartition(topic, p, max(low, listed_end - 1, 0)))
        probe.assign(starts)
        seen: dict[int, int] = {}  # partition -> highest offset + 1 observed (a floor for the watermark)
        deadline = time.monotonic() + timeout
        while len(seen) < len(parts):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no fetch answer for {topic} partitions {set(parts) - set(seen)}")
            msg = probe.poll(0.2)
            if msg is None:
                continue
            err = msg.error()
            if err is not None and err.code() != KafkaError._PARTITION_EOF:
                raise RuntimeError(f"fetch {topic}/{msg.partition()}: {err}")
            floor = msg.offset() if err is not None else msg.offset() + 1
            seen[msg.partition()] = max(seen.get(msg.partition(), 0), floor)
        result = {}
        for p in parts:
            _, cached_high = probe.get_watermark_offsets(TopicPartition(topic, p), cached=True)
            result[p] = max(cached_high, seen[p])
        return result
    finally:
        probe.close()


def committed_offsets(
    bootstrap: str, group_id: str, topic: str, partitions: list[int]
) -> dict[int, int | None]:
    """{partition: committed offset or None} of a consumer group (read without joining it)."""
    client = consumer(bootstrap, group_id)
    try:
        tps = client.committed([TopicPartition(topic, p) for p in partitions], timeout=15)
        return {
            tp.partition: (None if tp.offset == OFFSET_INVALID or tp.offset < 0 else tp.offset) for tp in tps
        }
    finally:
        client.close()


def commit_offsets(bootstrap: str, group_id: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit explicit offsets for a group without joining it (used after a bounded landing run)."""
    client = consumer(bootstrap, group_id)
    try:
        client.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        client.close()


def lag(bootstrap: str, group_id: str, topic: str) -> dict[int, dict]:
    """Per partition: true end offset, committed offset and the lag between them."""
    ends = high_watermarks(bootstrap, topic)
    committed = committed_offsets(bootstrap, group_id, topic, list(ends))
    return {
        p: {"end": end, "committed": committed[p], "lag": end - (committed[p] or 0)}
        for p, end in ends.items()
    }
