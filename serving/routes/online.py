"""GET /trending (the online job's sliding-window counts) and GET /online/status (A/B arms, impressions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from serving.dependencies import Runtime
from serving.schemas import MAX_K, TrendingMovie, TrendingOut

router = APIRouter(tags=["online"])


@router.get(
    "/trending", response_model=TrendingOut, summary="Movies clicked and liked most in the newest window"
)
def trending(runtime: Runtime, k: Annotated[int, Query(ge=1, le=MAX_K)] = 10):
    window_end, _ = runtime.trending.latest()
    champion = runtime.holder.current
    movies = champion.recommender.movies if champion is not None else {}
    items = [
        TrendingMovie(
            movie_id=m,
            clicks=c,
            likes=lk,
            title=movies[m].title if m in movies else None,
            genres=list(movies[m].genres) if m in movies else [],
        )  # fmt: skip
        for m, c, lk in runtime.trending.top(k)
    ]
    return TrendingOut(window_end=window_end, window_s=runtime.settings.trending_window_s, items=items)


@router.get("/online/status", summary="A/B arms in use, impressions published and dropped, trending follower")
def online_status(runtime: Runtime) -> dict:
    champion, challenger = runtime.holder.current, runtime.challenger.current
    distinct = challenger is not None and champion is not None and challenger.version != champion.version
    return {
        "ab": {"challenger_fraction": runtime.settings.ab_challenger_fraction, "active": distinct,
               "champion_version": getattr(champion, "version", None),
               "challenger_version": getattr(challenger, "version", None)},
        "impressions": runtime.impressions.status() if runtime.impressions is not None else None,
        "trending": runtime.trending_follower.stats() if runtime.trending_follower is not None else None,
    }  # fmt: skip
