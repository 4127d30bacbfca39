"""Request and response models of the HTTP API (pydantic); both the new and the legacy (camelCase) click bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.events import MAX_ID, ClickEvent, EventType, future_ts_reason, latest_allowed_ts

Strategy = Literal["personalized", "personalized_from_clicks", "cold_start"]
Variant = Literal["champion", "challenger"]
MAX_K = 100


class ClickIn(BaseModel):
    """New-API click body: `{user_id, movie_id, event, ts?, event_id?}` (ts in epoch milliseconds)."""

    model_config = ConfigDict(extra="forbid")

    event_id: uuid.UUID | None = Field(
        None, description="client-minted idempotency key: resend the same id after a 503 and it lands once"
    )
    user_id: int = Field(ge=1, le=MAX_ID, strict=True)
    movie_id: int = Field(ge=1, le=MAX_ID, strict=True)
    event: EventType = "click"
    ts: int | None = Field(None, ge=0, le=10**14, strict=True, description="epoch milliseconds; default: now")
    source: str = Field("api", min_length=1, max_length=64)
    request_id: uuid.UUID | None = Field(
        None, description="the recommendation response (its request_id) the movie was clicked in"
    )


class LegacyClickIn(BaseModel):
    """The original system's click body: `{"userId": 1, "movieId": 10, "timestamp": 1694582374}` (epoch seconds)."""

    model_config = ConfigDict(extra="forbid")

    userId: int = Field(ge=1, le=MAX_ID, strict=True)  # noqa: N815 (wire format)
    movieId: int = Field(ge=1, le=MAX_ID, strict=True)  # noqa: N815
    timestamp: int | None = Field(None, ge=0, le=10**11, strict=True, description="epoch seconds")


class ClicksIn(BaseModel):
    """Batch body for POST /clicks (documents the route's OpenAPI body; the route checks it with exact messages)."""

    model_config = ConfigDict(extra="forbid")

    events: list[ClickIn] = Field(min_length=1)


class ClickAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    event_id: uuid.UUID
    user_id: int
    movie_id: int
    event: EventType
    ts: int


class ClicksAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    count: int
    event_ids: list[uuid.UUID]


class ErrorOut(BaseModel):
    error: str
    detail: Any | None = None


class ModelRef(BaseModel):
    name: str
    version: str


class RecommendedMovie(BaseModel):
    movie_id: int
    title: str
    genres: list[str]
    year: int | None
    score: float


class RecommendationsOut(BaseModel):
    user_id: int | None = Field(description="null for anonymous requests")
    k: int
    strategy: Strategy
    model: ModelRef
    genres: list[str] = Field(default_factory=list, description="genre filter applied (empty: none)")
    excluded_recent_clicks: int = Field(
        description="fresh clicks of this user excluded on top of training history"
    )
    folded_clicks: int = Field(0, description="fresh clicks folded into the user's vector for this answer")
    variant: Variant = Field("champion", description="A/B arm: the model behind `champion` or `challenger`")
    request_id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        description="this answer's impression; send it back with clicks on its items",
    )
    items: list[RecommendedMovie]


class MovieIn(BaseModel):
    """A movie to add to the catalog (no interactions yet): a content-aware champion places it by genres + year."""

    model_config = ConfigDict(extra="forbid")

    movie_id: int = Field(ge=1, le=MAX_ID, strict=True)
    title: str = Field(min_length=1, max_length=300)
    genres: list[str] = Field(min_length=1, max_length=20, description="MovieLens genres, e.g. ['Sci-Fi']")
    year: int = Field(ge=1870, le=2100, strict=True, description="release year")


class MovieAdded(BaseModel):
    status: Literal["added"] = "added"
    movie_id: int
    title: str
    genres: list[str]
    year: int
    added_at: datetime
    recommendable_now: bool = Field(
        description="false: the champion is an ID-only model; the movie is served after the next retrain"
    )


class NewMoviesOut(BaseModel):
    user_id: int | None
    k: int
    window_days: float
    model: ModelRef
    items: list[RecommendedMovie]


class TrendingMovie(BaseModel):
    movie_id: int
    title: str | None = Field(description="null for a movie the champion's catalog lacks")
    genres: list[str]
    clicks: int
    likes: int


class TrendingOut(BaseModel):
    window_end: int | None = Field(
        description="epoch ms of the newest window; null before the job published one"
    )
    window_s: int
    items: list[TrendingMovie]


class LegacyMovie(BaseModel):
    movieId: int  # noqa: N815
    title: str
    genres: list[str]
    score: float


class LegacyPredictOut(BaseModel):
    user_id: str
    recommendations: list[LegacyMovie]
    strategy: Strategy
    model_version: str


class ModelInfo(BaseModel):
    name: str
    version: str
    alias: str
    run_id: str
    metrics: dict[str, float]
    loaded_at: datetime
    catalog_size: int
    last_checked_at: datetime | None = None
    last_error: str | None = None


def click_event_from_body(body: Any, now_ms: int, max_future_skew_s: int) -> ClickEvent:
    """Turn either body form into a ClickEvent (server-side event_id unless the client sent one); raises ValueError with a clear message."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    legacy = "userId" in body or "movieId" in body
    try:
        if legacy:
            old = LegacyClickIn.model_validate(body)
            ts = old.timestamp * 1000 if old.timestamp is not None else now_ms
            fields = dict(user_id=old.userId, movie_id=old.movieId, event="click", ts=ts, source="legacy-api")
        else:
            new = ClickIn.model_validate(body)
            fields = dict(
                user_id=new.user_id,
                movie_id=new.movie_id,
                event=new.event,
                ts=new.ts if new.ts is not None else now_ms,
                source=new.source,
                request_id=new.request_id,
            )
            if new.event_id is not None:
                fields["event_id"] = new.event_id
    except ValidationError as exc:
        raise ValueError(format_validation_error(exc)) from None
    if fields["ts"] > latest_allowed_ts(now_ms, max_future_skew_s):
        raise ValueError(future_ts_reason(fields["ts"], max_future_skew_s))
    return ClickEvent(**fields)


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per error: `field.path: message`."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "") or "body"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
