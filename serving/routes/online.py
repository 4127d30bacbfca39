"""GET /trending (the online job's sliding-window counts) and GET /online/status (A/B arms, impressions)."""

from __future__ import annotations

import time
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
    return {
        "ab": {"challenger_fraction": runtime.settings.ab_challenger_fraction, "active": runtime.ab_active(),
               "champion_version": getattr(champion, "version", None),
               "challenger_version": getattr(challenger, "version", None)},
        "impressions": runtime.impressions.status() if runtime.impressions is not None else None,
        "trending": runtime.trending_follower.stats() if runtime.trending_follower is not None else None,
    }  # fmt: skip


@router.get(
    "/online/metrics", summary="Online CTR@10 per model version and A/B arm, per window (landed by Flink)"
)
def online_metrics(
    runtime: Runtime, hours: Annotated[float, Query(ge=0.01, le=24 * 30, description="how far back")] = 24.0
) -> dict:
    from pipelines.online_metrics import arm_totals, compare_ctr, read_online_metrics

    since_ms = int((time.time() - hours * 3600) * 1000)
    rows = read_online_metrics(runtime.settings, since_ms)
    series: dict[str, list[dict]] = {}
    for (version, variant), part in rows.groupby(["model_version", "variant"], sort=True):
        per_window = part.groupby("window_start")[["impressions", "clicks_at_10"]].sum().reset_index()
        series[f"v{version} ({variant})"] = [
            {"window_start": int(r.window_start), "impressions": int(r.impressions), "clicks_at_10": int(r.clicks_at_10),
             "ctr_at_10": (r.clicks_at_10 / r.impressions) if r.impressions else None}
            for r in per_window.itertuples()
        ]  # fmt: skip
    totals = arm_totals(rows) if len(rows) else {}
    test = None
    champ, chall = totals.get("champion") or {}, totals.get("challenger") or {}
    if champ.get("impressions") and chall.get("impressions"):
        test = compare_ctr(
            champ["clicks_at_10"], champ["impressions"], chall["clicks_at_10"], chall["impressions"]
        )
    return {"since_ms": since_ms, "window_s": runtime.settings.online_window_s, "series": series, "totals": totals,
            "test": test, "policy": runtime.settings.promotion_policy}  # fmt: skip
