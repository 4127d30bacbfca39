"""How the HTTP API fails: every error is a JSON `{"error": ...}` body with an exact status, never an HTML 500.

Bad input is a 4xx with a message; a bug is a logged 500 that still answers in JSON.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.schemas import ErrorOut

log = logging.getLogger(__name__)

DESCRIPTIONS = {
    400: "malformed JSON or URL",
    401: "missing or wrong admin token",
    404: "not found",
    409: "already exists",
    413: "body too large",
    415: "content type is not application/json",
    422: "invalid input",
    503: "no champion model loaded, or the broker did not acknowledge",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each listed status documented with the ErrorOut body."""
    return {c: {"model": ErrorOut, "description": DESCRIPTIONS[c]} for c in codes}


def error(status: int, message: str, detail: Any = None) -> JSONResponse:
    body = {"error": message, "detail": detail} if detail is not None else {"error": message}
    return JSONResponse(body, status)


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return error(422, "invalid request: " + "; ".join(parts), jsonable_encoder(exc.errors(), exclude={"ctx"}))


async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error(exc.status_code, str(exc.detail))


async def _crash(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)  # a bug, not bad input
    return error(500, f"internal error: {type(exc).__name__}")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _crash)


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
                    message = f"Content-Type must be application/json, got {ctype or 'nothing'!r}"
                    await error(415, message)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
