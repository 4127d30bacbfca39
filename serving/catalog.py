"""Movies added after training: validate and record one (pipelines.catalog), place it from its content in the
champion at once, and keep every replica's champion in step with the additions file.

A champion whose model has no content features (an ID-only model) keeps the record for the next retrain but
cannot rank the movie yet; the response says so.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any

from pipelines.catalog import NewMovie, append_addition, check_new_movie, read_additions
from pipelines.settings import Settings

log = logging.getLogger(__name__)


class CatalogSync:
    """Applies the additions file to champions: on load, after an add, and when another replica appended."""

    def __init__(self, settings: Settings):
        self.path = settings.catalog_additions_file
        self._lock = threading.Lock()
        self._applied_stamp: tuple[float, int] | None = None

    def _stamp(self) -> tuple[float, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime, stat.st_size

    def apply(self, champion: Any | None) -> Any | None:
        """The champion with every recorded addition it can place (itself when there is nothing to add)."""
        if champion is None:
            return None
        added = read_additions(self.path)
        rec = champion.recommender
        if added.empty or not rec.places_new_movies:
            return champion
        updated = rec.with_movies(added)
        return champion if updated is rec else dataclasses.replace(champion, recommender=updated)

    def refresh(self, holder: Any) -> None:
        """Called by the model watcher's poll: pick up additions another replica (or an operator) wrote."""
        stamp = self._stamp()
        if stamp is None or stamp == self._applied_stamp:
            return
        with self._lock:
            current = holder.current
            updated = self.apply(current)
            if updated is not current:
                holder.swap(updated)
                log.info("catalog additions applied: %d movies", len(updated.recommender.added_at))
            self._applied_stamp = stamp

    def add(
        self, holder: Any, movie_id: int, title: str, genres: list[str], year: int | None
    ) -> tuple[NewMovie, bool]:
        """Validate (pipelines.catalog.InvalidMovie otherwise), record, and place the movie in the live champion.

        Returns (the record, whether the champion can recommend it now)."""
        with self._lock:
            champion = holder.current
            rec = champion.recommender
            known = list(rec.content_spec.genres) if rec.content_spec is not None else rec.genres
            existing = set(rec.movies) | set(read_additions(self.path).item_id.tolist())
            movie = check_new_movie(movie_id, title, genres, year, known, existing)
            append_addition(self.path, movie)
            placed = rec.places_new_movies
            if placed:
                holder.swap(dataclasses.replace(champion, recommender=rec.with_movies(movie.frame())))
            self._applied_stamp = self._stamp()
        log.info("movie %d added (%s); recommendable now: %s", movie.item_id, movie.title, placed)
        return movie, placed


def new_movie_ids(recommender: Any, window_days: float, now: float | None = None) -> list[int]:
    """Movies added within the window that the champion can rank, newest first."""
    cutoff = (time.time() if now is None else now) - window_days * 86_400
    recent = [(t, m) for m, t in recommender.added_at.items() if t >= cutoff]
    return [m for _, m in sorted(recent, reverse=True)]
