"""Produce and inspect events in streaming tests."""

from __future__ import annotations

import json
from collections import Counter

from pipelines.events import ClickEvent
from pipelines.kafka_config import producer
from pipelines.landed import committed_files
from pipelines.settings import Settings


def valid_events(n: int, seed: int = 0) -> list[ClickEvent]:
    return [ClickEvent(user_id=1 + (i * 7 + seed) % 50, movie_id=1 + (i * 13 + seed) % 500) for i in range(n)]


INVALID_PAYLOADS = [
    b"not json",
    b'{"user_id": 1}',
    json.dumps({"event_id": "not-a-uuid", "user_id": 1, "movie_id": 2}).encode(),
    json.dumps({"user_id": 0, "movie_id": 2}).encode(),
    json.dumps({"user_id": 1, "movie_id": 2, "event": "purchase"}).encode(),
    json.dumps({"user_id": 1, "movie_id": 2, "ts": 4_102_444_800_000}).encode(),  # year 2100
]


def produce(settings: Settings, events: list[ClickEvent], raw: list[bytes] = ()) -> None:
    prod = producer(settings.kafka_bootstrap)
    for event in events:
        prod.produce(settings.clicks_topic, key=event.kafka_key(), value=event.to_json_bytes())
        prod.poll(0)
    for payload in raw:
        prod.produce(settings.clicks_topic, key=b"bad", value=payload)
    assert prod.flush(30) == 0


def landed_file_ids(settings: Settings) -> Counter:
    """event_id -> how many times it appears in committed part files."""
    ids: Counter = Counter()
    for dt, names in committed_files(settings.feedback_dir).items():
        for name in names:
            for line in (settings.feedback_dir / f"dt={dt}" / name).read_text().splitlines():
                if line.strip():
                    ids[json.loads(line)["event_id"]] += 1
    return ids


def landed_pg_ids(settings: Settings) -> Counter:
    import psycopg

    with psycopg.connect(settings.feedback_postgres_url) as conn:
        if conn.execute("SELECT to_regclass(%s)", (settings.feedback_postgres_table,)).fetchone()[0] is None:
            return Counter()
        rows = conn.execute(f"SELECT event_id::text FROM {settings.feedback_postgres_table}").fetchall()
    return Counter(r[0] for r in rows)
