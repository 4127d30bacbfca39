"""Trending now: the per-movie click/like counts of the newest sliding window, as the online Flink job publishes
them to the trending topic ({"movie_id", "clicks", "likes", "window_end"}), and how they lift cold start.

Blend rule (documented in docs/online-evaluation.md): a cold-start candidate's damped-popularity score s becomes
s + weight * s_top * log1p(heat) / log1p(max_heat), with heat = clicks + 2 * likes in the newest window and s_top
the best damped-popularity score. A movie nobody touched in the window keeps its score; the hottest movie gains
`weight` (default 0.5) times the top score, so it reaches the list from anywhere in the popularity order, while
a single click on an obscure movie stays small next to the classics.
"""

from __future__ import annotations

import json
import logging
import math
import threading

log = logging.getLogger(__name__)

LIKE_WEIGHT = 2.0


class TrendingState:
    """movie_id -> (clicks, likes) of the newest complete window seen; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_window: dict[int, dict[int, tuple[int, int]]] = {}
        self.invalid = 0

    def apply(self, raw: bytes, _recorded_ms: int | None = None) -> None:
        try:
            row = json.loads(raw)
            movie, end = int(row["movie_id"]), int(row["window_end"])
            counts = (int(row.get("clicks") or 0), int(row.get("likes") or 0))
        except (ValueError, KeyError, TypeError):
            self.invalid += 1
            log.warning("trending: skipped a malformed record %r", raw[:200])
            return
        with self._lock:
            self._by_window.setdefault(end, {})[movie] = counts
            for old in sorted(self._by_window)[
                :-2
            ]:  # the newest window may still be arriving: keep one before
                del self._by_window[old]

    def latest(self) -> tuple[int | None, dict[int, tuple[int, int]]]:
        """(window_end, counts) of the newest window."""
        with self._lock:
            if not self._by_window:
                return None, {}
            end = max(self._by_window)
            return end, dict(self._by_window[end])

    def top(self, k: int) -> list[tuple[int, int, int]]:
        """(movie_id, clicks, likes), hottest first."""
        _, counts = self.latest()
        ranked = sorted(counts.items(), key=lambda kv: (-(kv[1][0] + LIKE_WEIGHT * kv[1][1]), kv[0]))
        return [(m, c, lk) for m, (c, lk) in ranked[:k]]

    def boosts(self, weight: float) -> dict[int, float]:
        """movie_id -> share of the top cold-start score added to the movie's (see the module docstring)."""
        _, counts = self.latest()
        heat = {m: c + LIKE_WEIGHT * lk for m, (c, lk) in counts.items()}
        hottest = max(heat.values(), default=0.0)
        if hottest <= 0 or weight <= 0:
            return {}
        return {m: weight * math.log1p(h) / math.log1p(hottest) for m, h in heat.items() if h > 0}
