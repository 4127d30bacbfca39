"""GET /recommendations/{user_id}, GET /recommendations (anonymous) and the legacy GET /predict/{user_id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response

from pipelines.events import MAX_ID
from serving.dependencies import runtime_of
from serving.http_errors import error_responses
from serving.recommendations import (
    NoChampion,
    UnknownGenres,
    legacy_predict,
    recommendations_for,
    recommendations_json,
)
from serving.runtime import ServingRuntime
from serving.schemas import MAX_K, LegacyPredictOut, RecommendationsOut

router = APIRouter()

UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="MovieLens user id (unknown ids get cold start)")]
K = Annotated[int, Query(ge=1, le=MAX_K, description="how many movies (1..100)")]
Genres = Annotated[
    list[str] | None,
    Query(max_length=20, description="favourite genres for cold start, repeated or comma-separated"),
]
LegacyUser = Annotated[
    str, Path(pattern=r"^(anonymous|[0-9]{1,10})$", description="a user id or 'anonymous'")
]


def _answer(build, runtime: ServingRuntime, user_id: int | None, k: int, genres: list[str] | None):
    try:
        return build(runtime, user_id, k, genres)
    except NoChampion as exc:
        raise HTTPException(503, str(exc)) from None
    except UnknownGenres as exc:
        raise HTTPException(422, str(exc)) from None


def _json(body: bytes) -> Response:
    """The body as is: FastAPI would validate and serialize a returned model again (`response_model` stays for
    the OpenAPI schema)."""
    return Response(body, media_type="application/json")


@router.get(
    "/recommendations/{user_id}",
    response_model=RecommendationsOut,
    responses=error_responses(400, 422, 503),
    summary="Top-k movies for a user (personalized; cold start for unknown users)",
)
async def get_recommendations(request: Request, user_id: UserId, k: K = 10, genres: Genres = None):
    return _json(_answer(recommendations_json, runtime_of(request), user_id, k, genres))


@router.get(
    "/recommendations",
    response_model=RecommendationsOut,
    responses=error_responses(422, 503),
    summary="Top-k movies for an anonymous visitor (cold start, optionally by genres)",
)
async def get_anonymous_recommendations(request: Request, k: K = 10, genres: Genres = None):
    return _json(_answer(recommendations_json, runtime_of(request), None, k, genres))


@router.get(
    "/predict/{user_id}",
    response_model=LegacyPredictOut,
    responses=error_responses(400, 422, 503),
    summary="Legacy: top-10 for a user id or `anonymous`",
)
async def legacy_predict_route(request: Request, user_id: LegacyUser):
    runtime = runtime_of(request)
    uid = None if user_id == "anonymous" else int(user_id)
    if uid is not None and not 1 <= uid <= MAX_ID:
        raise HTTPException(422, f"user_id must be between 1 and {MAX_ID} or 'anonymous'")
    out = legacy_predict(_answer(recommendations_for, runtime, uid, 10, None), user_id)
    return _json(out.model_dump_json().encode())
