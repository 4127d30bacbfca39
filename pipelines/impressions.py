"""The impression event: what the service showed one user in one response (the `movie-impressions` topic).

Shared by the producer (serving, one event per recommendation response) and the consumer (the Flink online
job, streaming.online_sql), so the A/B evaluation can attribute clicks to the model version that ranked them.
JSON, keyed by str(user_id); `items[i]` was shown at position i + 1.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.events import MAX_ID, InvalidEvent

IMPRESSION_SCHEMA_VERSION: Literal[1] = 1
MAX_ITEMS = 100
MAX_LABEL = 64  # model_name / model_version length
Variant = Literal["champion", "challenger"]
Strategy = Literal["personalized", "personalized_from_clicks", "cold_start"]


class ImpressionEvent(BaseModel):
    """One recommendation response as shown: who, which model (name, version, A/B arm), how, and the ranked items."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    schema_version: Literal[1] = IMPRESSION_SCHEMA_VERSION
    request_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    user_id: int = Field(ge=1, le=MAX_ID)
    model_name: str = Field(min_length=1, max_length=MAX_LABEL)
    model_version: str = Field(min_length=1, max_length=MAX_LABEL)
    variant: Variant
    strategy: Strategy
    items: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        max_length=MAX_ITEMS, description="movie ids; position = index + 1"
    )
    ts: int = Field(
        default_factory=lambda: int(time.time() * 1000), ge=0, description="epoch milliseconds, UTC"
    )

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    def kafka_key(self) -> bytes:
        return str(self.user_id).encode()

    def position(self, movie_id: int) -> int | None:
        """1-based position of movie_id in this response (None when it was not shown)."""
        try:
            return self.items.index(movie_id) + 1
        except ValueError:
            return None


def parse_impression(raw: bytes | str) -> ImpressionEvent:
    """Parse and validate one raw impression payload; InvalidEvent carries the dead-letter reason."""
    try:
        event = ImpressionEvent.model_validate_json(raw)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise InvalidEvent(f"schema: {errors}") from None
    return event


def json_schema() -> dict:
    return ImpressionEvent.model_json_schema()
