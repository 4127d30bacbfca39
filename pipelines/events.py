"""The click event: one versioned schema shared by the producer (serving) and the consumer (Flink job)."""

from __future__ import annotations

import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION: Literal[1] = 1
EventType = Literal["click", "like", "watch"]
MAX_ID = 2**31 - 1


class ClickEvent(BaseModel):
    """A user's interaction with a movie, as it travels on the `movie-clicks` topic (JSON, keyed by user_id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    user_id: int = Field(ge=1, le=MAX_ID)
    movie_id: int = Field(ge=1, le=MAX_ID)
    event: EventType = "click"
    ts: int = Field(
        default_factory=lambda: int(time.time() * 1000), ge=0, description="epoch milliseconds, UTC"
    )
    source: str = Field("web", min_length=1, max_length=64)
    request_id: uuid.UUID | None = Field(
        None,
        description="the impression (pipelines.impressions.ImpressionEvent.request_id) the click came from",
    )

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    def kafka_key(self) -> bytes:
        return str(self.user_id).encode()


class InvalidEvent(ValueError):
    """Raised when a raw payload is not a valid ClickEvent; `reason` is what goes to the dead-letter topic."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- the future-skew rule (one definition for parse_event, the Flink SQL fast path, the serving schema check and
# the feedback validation suite): an event may be stamped at most max_future_skew_s after "now" (clock skew)


def latest_allowed_ts(now_ms: int, max_future_skew_s: int) -> int:
    """The largest `ts` (epoch ms) accepted at `now_ms`; anything later is rejected as from the future."""
    return now_ms + max_future_skew_s * 1000


def future_ts_reason(ts: int | str, max_future_skew_s: int) -> str:
    """The rejection reason for a too-late `ts` (what goes to the DLQ; the SQL fast path builds the same text)."""
    return f"ts {ts} is more than {max_future_skew_s}s in the future"


def parse_event(raw: bytes | str, now_ms: int | None = None, max_future_skew_s: int = 300) -> ClickEvent:
    """Parse and validate one raw payload; reject events stamped too far in the future."""
    try:
        event = ClickEvent.model_validate_json(raw)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise InvalidEvent(f"schema: {errors}") from None
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if event.ts > latest_allowed_ts(now_ms, max_future_skew_s):
        raise InvalidEvent(future_ts_reason(event.ts, max_future_skew_s))
    return event


def json_schema() -> dict:
    """The JSON Schema of the event (committed as pipelines/schemas/click_event.v1.json)."""
    return ClickEvent.model_json_schema()
