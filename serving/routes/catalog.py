"""POST /catalog/movies (add a movie without a retrain) and GET /catalog/new (this week's new movies, ranked
for the user)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query

from pipelines.content import InvalidMovie
from pipelines.events import MAX_ID
from serving.catalog import new_movie_ids
from serving.dependencies import Runtime
from serving.http_errors import error_responses
from serving.recommendations import NoChampion, movie_items
from serving.schemas import MAX_K, ModelRef, MovieAdded, MovieIn, NewMoviesOut

router = APIRouter(prefix="/catalog", tags=["catalog"])


def _check_admin(runtime: Runtime, authorization: str | None) -> None:
    token = runtime.settings.admin_token
    if token is None:
        return
    sent = (authorization or "").removeprefix("Bearer ").strip()
    if not secrets.compare_digest(sent.encode(), token.get_secret_value().encode()):
        raise HTTPException(401, "POST /catalog/movies needs `Authorization: Bearer <MOVIEREC_ADMIN_TOKEN>`")


@router.post(
    "/movies",
    status_code=201,
    response_model=MovieAdded,
    responses=error_responses(400, 401, 409, 422, 503),
    summary="Add a movie to the catalog; a content-aware champion recommends it at once, without a retrain",
)
def add_movie(runtime: Runtime, movie: MovieIn, authorization: Annotated[str | None, Header()] = None):
    _check_admin(runtime, authorization)
    if runtime.holder.current is None:
        raise HTTPException(503, str(NoChampion()))
    try:
        record, placed = runtime.catalog.add(
            runtime.holder, movie.movie_id, movie.title, movie.genres, movie.year
        )
    except InvalidMovie as exc:
        raise HTTPException(409 if "already in the catalog" in str(exc) else 422, str(exc)) from None
    return MovieAdded(movie_id=record.item_id, title=record.title, genres=record.genres, year=record.year,
                      added_at=datetime.fromtimestamp(record.added_at, UTC), recommendable_now=placed)  # fmt: skip


@router.get(
    "/new",
    response_model=NewMoviesOut,
    responses=error_responses(422, 503),
    summary="Movies added this week, in the order the model places them for the user",
)
def new_movies(
    runtime: Runtime,
    user_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="omit for an anonymous visitor")
    ] = None,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
):
    champion = runtime.holder.current
    if champion is None:
        raise HTTPException(503, str(NoChampion(runtime.holder.last_error)))
    rec = champion.recommender
    window = runtime.settings.new_movies_window_days
    candidates = new_movie_ids(rec, window)
    events = runtime.recent.events(user_id) if user_id is not None and runtime.recent is not None else []
    pairs = rec.rank_movies(candidates, user_id, events, k) if candidates else []
    return NewMoviesOut(user_id=user_id, k=k, window_days=window, items=movie_items(rec, pairs),
                        model=ModelRef(name=champion.model_name, version=str(champion.version)))  # fmt: skip
