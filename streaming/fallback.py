"""The Python fallback of the validation stage: parse_event itself, run as a Flink UDF on non-canonical payloads.

Its result row (PARSED_TYPE) carries the decision, the DLQ reason and the normalised event fields.
"""

from __future__ import annotations

import time

from pipelines.events import InvalidEvent, parse_event

PARSED_TYPE = (
    ("ok", "BOOLEAN"), ("reason", "STRING"), ("checked_at", "BIGINT"), ("schema_version", "INT"),
    ("event_id", "STRING"), ("user_id", "BIGINT"), ("movie_id", "BIGINT"), ("event", "STRING"),
    ("ts", "BIGINT"), ("source", "STRING"), ("request_id", "STRING"),
)  # fmt: skip
# Thread mode (pemja) cannot hand NULL INT/BIGINT fields of a ROW back to the JVM (NPE in Flink 2.0.0's
# PythonTypeUtils.IntDataConverter), so the UDF fills the unused fields with these and streaming.sql.SLOW_CHECKED
# puts the NULLs back.
NULL_STAND_INS = {"BOOLEAN": False, "STRING": "", "INT": 0, "BIGINT": 0}


def classify(payload: str | None, max_future_skew_s: int) -> tuple:
    """One raw payload -> a PARSED_TYPE tuple (ok=False with the reason for anything parse_event rejects)."""
    now_ms = int(time.time() * 1000)
    if payload is None:
        return (False, "empty payload (tombstone)", now_ms, None, None, None, None, None, None, None, None)
    try:
        e = parse_event(payload, now_ms=now_ms, max_future_skew_s=max_future_skew_s)
    except InvalidEvent as exc:
        return (False, exc.reason[:2000], now_ms, None, None, None, None, None, None, None, None)
    return (
        True,
        None,
        now_ms,
        e.schema_version,
        str(e.event_id),
        e.user_id,
        e.movie_id,
        e.event,
        e.ts,
        e.source,
        None if e.request_id is None else str(e.request_id),
    )


def classify_without_nulls(payload: str | None, max_future_skew_s: int) -> tuple:
    """classify() with stand-ins for None (see NULL_STAND_INS)."""
    values = classify(payload, max_future_skew_s)
    return tuple(NULL_STAND_INS[t] if v is None else v for v, (_, t) in zip(values, PARSED_TYPE, strict=True))
