"""The HTTP API (a FastAPI app mounted into the BentoML service): routes with path parameters, exact status codes.

Handlers are thin: they validate, read `app.state.runtime` (a ServingRuntime) and call plain functions.
Bad input always ends in a 4xx with a JSON `{"error": ...}` body, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from pipelines.events import MAX_ID
from serving.clicks import ClickNotAcknowledged
from serving.recommend import NoChampion, UnknownGenres, legacy_predict, recommend
from serving.schemas import (
    MAX_K,
    ClickAccepted,
    ClickIn,
    ClicksAccepted,
    ErrorOut,
    LegacyClickIn,
    LegacyPredictOut,
    ModelInfo,
    RecommendationsOut,
    click_event_from_body,
)

log = logging.getLogger(__name__)

STATIC_DIR = FsPath(__file__).resolve().parent / "static"
MAX_CLICK_BYTES = 4 * 1024
MAX_BATCH_BYTES = 256 * 1024

UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="MovieLens user id (unknown ids get cold start)")]
K = Annotated[int, Query(ge=1, le=MAX_K, description="how many movies (1..100)")]
Genres = Annotated[
    list[str] | None,
    Query(max_length=20, description="favourite genres for cold start, repeated or comma-separated"),
]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "malformed JSON or URL",
        404: "not found",
        413: "body too large",
        415: "content type is not application/json",
        422: "invalid input",
        503: "no champion model loaded, or the broker did not acknowledge",
    }
    return {c: {"model": ErrorOut, "description": text[c]} for c in codes}


def _inline_refs(schema: dict) -> dict:
    """A pydantic JSON schema with its $defs inlined (OpenAPI request bodies given by hand cannot use $defs)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref.startswith("#/$defs/"):
                return walk(defs[ref.split("/")[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def _json_body(schema: dict) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def error(status: int, message: str, detail: Any = None) -> JSONResponse:
    return JSONResponse(
        {"error": message, "detail": detail} if detail is not None else {"error": message}, status
    )


async def read_json_body(request: Request, max_bytes: int) -> Any:
    """The request body as parsed JSON; HTTPException 415/413/400 with a clear message otherwise."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise HTTPException(415, f"Content-Type must be application/json, got {ctype or 'nothing'!r}")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise HTTPException(413, f"body larger than {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(413, f"body larger than {max_bytes} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise HTTPException(400, "empty body: expected a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise HTTPException(400, f"malformed JSON: {exc}") from None


class RequestGuard:
    """ASGI middleware for the whole service, in front of BentoML's own routing:

    - a URL path with control characters (e.g. an encoded newline in a user id) never reaches a route (the
      router's patterns do not match newlines): answer a JSON 400 instead of a plain-text 404;
    - BentoML-native endpoints (`json_only_paths`) take JSON only: other content types (e.g. multipart without a
      boundary, on which BentoML's parser fails with a 500) get a 415.
    """

    def __init__(self, app: ASGIApp, json_only_paths: tuple[str, ...] = ("/recommend",)):
        self.app = app
        self.json_only_paths = json_only_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            if any(ord(c) < 32 or ord(c) == 127 for c in path):
                await error(400, "the URL path contains control characters")(scope, receive, send)
                return
            if scope.get("method") == "POST" and path in self.json_only_paths:
                ctype = dict(scope.get("headers") or []).get(b"content-type", b"").decode("latin-1")
                if ctype.split(";")[0].strip().lower() != "application/json":
                    await error(415, f"Content-Type must be application/json, got {ctype or 'nothing'!r}")(
                        scope, receive, send
                    )
                    return
        await self.app(scope, receive, send)


def create_app() -> FastAPI:
    """The FastAPI app; `app.state.runtime` is set by the service (or a test) before requests arrive."""
    app = FastAPI(
        title="movierec serving",
        version="1.0",
        description="Top-N movie recommendations from the MLflow champion, clicks to Kafka, legacy endpoints.",
    )
    app.state.runtime = None

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return error(
            422, "invalid request: " + "; ".join(parts), jsonable_encoder(exc.errors(), exclude={"ctx"})
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:  # a bug, not bad input: log it loudly
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error(500, f"internal error: {type(exc).__name__}")

    def runtime(request: Request):
        rt = request.app.state.runtime
        if rt is None:
            raise HTTPException(503, "service is starting")
        return rt

    def _recommend(
        request: Request, user_id: int | None, k: int, genres: list[str] | None
    ) -> RecommendationsOut:
        rt = runtime(request)
        recent = rt.recent.movies(user_id) if user_id is not None and rt.recent is not None else frozenset()
        try:
            return recommend(rt.holder.current, user_id, k, recent=recent, genres=genres)
        except NoChampion as exc:
            raise HTTPException(503, str(exc)) from None
        except UnknownGenres as exc:
            raise HTTPException(422, str(exc)) from None

    @app.get(
        "/recommendations/{user_id}",
        response_model=RecommendationsOut,
        responses=_errors(400, 422, 503),
        summary="Top-k movies for a user (personalized; cold start for unknown users)",
    )
    def get_recommendations(request: Request, user_id: UserId, k: K = 10, genres: Genres = None):
        return _recommend(request, user_id, k, genres)

    @app.get(
        "/recommendations",
        response_model=RecommendationsOut,
        responses=_errors(422, 503),
        summary="Top-k movies for an anonymous visitor (cold start, optionally by genres)",
    )
    def get_anonymous_recommendations(request: Request, k: K = 10, genres: Genres = None):
        return _recommend(request, None, k, genres)

    @app.get(
        "/predict/{user_id}",
        response_model=LegacyPredictOut,
        responses=_errors(400, 422, 503),
        summary="Legacy: top-10 for a user id or `anonymous`",
    )
    def legacy_predict_route(
        request: Request,
        user_id: Annotated[
            str, Path(pattern=r"^(anonymous|[0-9]{1,10})$", description="a user id or 'anonymous'")
        ],
    ):
        uid = None if user_id == "anonymous" else int(user_id)
        if uid is not None and not 1 <= uid <= MAX_ID:
            raise HTTPException(422, f"user_id must be between 1 and {MAX_ID} or 'anonymous'")
        return legacy_predict(_recommend(request, uid, 10, None), user_id)

    async def _publish(rt, events: list) -> None:
        futures = [asyncio.wrap_future(rt.publisher.publish(ev)) for ev in events]
        timeout = rt.settings.click_ack_timeout_s
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
            rt.recent.add(ev.user_id, ev.movie_id, now_ms)

    def _validate_events(rt, bodies: list[Any]) -> list:
        champion = rt.holder.current
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
                ev = click_event_from_body(body, now_ms, rt.settings.max_future_skew_s)
            except ValueError as exc:
                raise HTTPException(422, f"{where}{exc}") from None
            if ev.movie_id not in movies:
                raise HTTPException(422, f"{where}unknown movie_id {ev.movie_id}: not in the catalog")
            events.append(ev)
        if rt.publisher is None:
            raise HTTPException(503, "click publishing is not configured on this replica")
        return events

    click_schema = {
        "oneOf": [_inline_refs(ClickIn.model_json_schema()), _inline_refs(LegacyClickIn.model_json_schema())]
    }

    @app.post(
        "/click",
        status_code=202,
        response_model=ClickAccepted,
        responses=_errors(400, 413, 415, 422, 503),
        openapi_extra=_json_body(click_schema),
        summary="Record a click/like/watch (new snake_case body or the legacy camelCase body); 202 after the broker ack",
    )
    async def post_click(request: Request):
        rt = runtime(request)
        body = await read_json_body(request, MAX_CLICK_BYTES)
        (event,) = _validate_events(rt, [body])
        try:
            await _publish(rt, [event])
        except ClickNotAcknowledged as exc:
            raise HTTPException(503, str(exc)) from None
        return JSONResponse(
            jsonable_encoder(
                ClickAccepted(**event.model_dump(include={"event_id", "user_id", "movie_id", "event", "ts"}))
            ),
            202,
        )

    batch_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["events"],
        "properties": {
            "events": {"type": "array", "minItems": 1, "items": _inline_refs(ClickIn.model_json_schema())}
        },
    }

    @app.post(
        "/clicks",
        status_code=202,
        response_model=ClicksAccepted,
        responses=_errors(400, 413, 415, 422, 503),
        openapi_extra=_json_body(batch_schema),
        summary="Record many clicks at once: 202 only when every event was acknowledged",
    )
    async def post_clicks(request: Request):
        rt = runtime(request)
        body = await read_json_body(request, MAX_BATCH_BYTES)
        if not isinstance(body, dict) or set(body) != {"events"} or not isinstance(body["events"], list):
            raise HTTPException(422, 'body must be {"events": [ {user_id, movie_id, event, ts?}, ... ]}')
        bodies = body["events"]
        if not 1 <= len(bodies) <= rt.settings.click_batch_max:
            raise HTTPException(
                422, f"events must hold 1..{rt.settings.click_batch_max} items, got {len(bodies)}"
            )
        if any(isinstance(b, dict) and ("userId" in b or "movieId" in b) for b in bodies):
            raise HTTPException(422, "the batch form takes snake_case events only")
        events = _validate_events(rt, bodies)
        await _publish(rt, events)
        return JSONResponse(
            jsonable_encoder(ClicksAccepted(count=len(events), event_ids=[e.event_id for e in events])), 202
        )

    @app.get("/model", response_model=ModelInfo, responses=_errors(503), summary="The champion in use")
    def model_info(request: Request):
        rt = runtime(request)
        champ = rt.holder.current
        if champ is None:
            raise HTTPException(503, rt.holder.last_error or "no champion model registered yet")
        return ModelInfo(
            name=champ.model_name,
            version=str(champ.version),
            alias="champion",
            run_id=champ.run_id,
            metrics={k: float(v) for k, v in champ.metrics.items()},
            loaded_at=champ.loaded_at,
            catalog_size=len(champ.recommender.movies),
            last_checked_at=rt.holder.last_checked_at,
            last_error=rt.holder.last_error,
        )

    @app.get("/debug", summary="Legacy: status, endpoints and an example")
    def debug(request: Request) -> dict[str, Any]:
        rt = runtime(request)
        ready, reasons = rt.readiness()
        champ = rt.holder.current
        return {
            "status": "ok" if ready else "degraded",
            "not_ready_because": reasons,
            "model": None if champ is None else {"name": champ.model_name, "version": str(champ.version)},
            "model_swaps": rt.holder.swaps,
            "clicks": rt.publisher.stats() if rt.publisher else None,
            "recent_clicks": {
                **(rt.recent.stats() if rt.recent else {}),
                "follower": rt.follower.stats() if rt.follower else None,
            },
            "endpoints": sorted(
                {
                    f"{m} {r.path}"
                    for r in request.app.routes
                    for m in getattr(r, "methods", []) or []
                    if m != "HEAD" and not r.path.startswith(("/docs", "/openapi", "/redoc"))
                }
                | {"GET /healthz", "GET /readyz", "GET /metrics", "POST /recommend"}
            ),
            "example": {
                "recommendations": "curl 'http://127.0.0.1:3000/recommendations/1?k=10'",
                "predict": "curl http://127.0.0.1:3000/predict/anonymous",
                "click": "curl -X POST http://127.0.0.1:3000/click -H 'Content-Type: application/json' "
                '-d \'{"userId": 1, "movieId": 1, "timestamp": 1694582374}\'',
            },
        }

    @app.get("/ui", include_in_schema=False)
    def ui_redirect() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.get("/ui/", include_in_schema=False)
    def ui_index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    return app


app = create_app()
