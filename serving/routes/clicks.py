"""POST /click (new snake_case or the original camelCase body) and POST /clicks: 202 only after the broker ack."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from pipelines.events import ClickEvent
from serving.clicks import ClickNotAcknowledged
from serving.dependencies import Runtime
from serving.http_errors import error_responses
from serving.request_body import json_body, openapi_body
from serving.runtime import ServingRuntime
from serving.schemas import (
    ClickAccepted,
    ClickIn,
    ClicksAccepted,
    ClicksIn,
    LegacyClickIn,
    click_event_from_body,
)

router = APIRouter()

MAX_CLICK_BYTES = 4 * 1024
MAX_BATCH_BYTES = 256 * 1024
ERRORS = error_responses(400, 413, 415, 422, 503)


def validated_events(runtime: ServingRuntime, bodies: list[Any]) -> list[ClickEvent]:
    """Click events from request bodies, each checked against the champion's catalog; HTTPException otherwise."""
    champion = runtime.holder.current
    if champion is None:
        raise HTTPException(
            503, "no champion model registered yet: the movie catalog is unknown, retry later"
        )
    now_ms = int(time.time() * 1000)
    movies = champion.recommender.movies
    events = []
    for i, body in enumerate(bodies):
        where = f"events[{i}]: " if len(bodies) > 1 else ""
        try:
            event = click_event_from_body(body, now_ms, runtime.settings.max_future_skew_s)
        except ValueError as exc:
            raise HTTPException(422, f"{where}{exc}") from None
        if event.movie_id not in movies:
            raise HTTPException(422, f"{where}unknown movie_id {event.movie_id}: not in the catalog")
        events.append(event)
    if runtime.publisher is None:
        raise HTTPException(503, "click publishing is not configured on this replica")
    return events


async def publish_acknowledged(runtime: ServingRuntime, events: list[ClickEvent]) -> None:
    """Publish and wait for every broker ack (bounded); 503 naming how many were not recorded otherwise."""
    futures = [asyncio.wrap_future(runtime.publisher.publish(ev)) for ev in events]
    timeout = runtime.settings.click_ack_timeout_s
    done, pending = await asyncio.wait(futures, timeout=timeout)
    for fut in pending:
        fut.cancel()
    failures = [str(f.exception()) for f in done if f.exception() is not None]
    if pending or failures:
        acked = len(done) - len(failures)
        reason = failures[0] if failures else f"broker did not acknowledge within {timeout:g}s"
        raise HTTPException(
            503,
            f"{len(events) - acked} of {len(events)} click(s) not acknowledged by the broker ({reason}); "
            "nothing was recorded for those: retry",
        )
    now_ms = int(time.time() * 1000)
    for ev in events:
        runtime.recent.add(ev.user_id, ev.movie_id, now_ms, ev.event)


@router.post(
    "/click",
    status_code=202,
    response_model=ClickAccepted,
    responses=ERRORS,
    openapi_extra=openapi_body(ClickIn | LegacyClickIn),
    summary="Record a click/like/watch (new snake_case body or the legacy camelCase body); 202 after the broker ack",
)
async def post_click(runtime: Runtime, body: Annotated[Any, Depends(json_body(MAX_CLICK_BYTES))]):
    (event,) = validated_events(runtime, [body])
    try:
        await publish_acknowledged(runtime, [event])
    except ClickNotAcknowledged as exc:
        raise HTTPException(503, str(exc)) from None
    accepted = ClickAccepted(**event.model_dump(include={"event_id", "user_id", "movie_id", "event", "ts"}))
    return JSONResponse(jsonable_encoder(accepted), 202)


@router.post(
    "/clicks",
    status_code=202,
    response_model=ClicksAccepted,
    responses=ERRORS,
    openapi_extra=openapi_body(ClicksIn),
    summary="Record many clicks at once: 202 only when every event was acknowledged",
)
async def post_clicks(runtime: Runtime, body: Annotated[Any, Depends(json_body(MAX_BATCH_BYTES))]):
    if not isinstance(body, dict) or set(body) != {"events"} or not isinstance(body["events"], list):
        raise HTTPException(422, 'body must be {"events": [ {user_id, movie_id, event, ts?}, ... ]}')
    bodies = body["events"]
    limit = runtime.settings.click_batch_max
    if not 1 <= len(bodies) <= limit:
        raise HTTPException(422, f"events must hold 1..{limit} items, got {len(bodies)}")
    if any(isinstance(b, dict) and ("userId" in b or "movieId" in b) for b in bodies):
        raise HTTPException(422, "the batch form takes snake_case events only")
    events = validated_events(runtime, bodies)
    await publish_acknowledged(runtime, events)
    accepted = ClicksAccepted(count=len(events), event_ids=[e.event_id for e in events])
    return JSONResponse(jsonable_encoder(accepted), 202)
