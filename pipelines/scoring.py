"""Serving-side recommender: the model plus its bundle (id maps, seen items, catalog, cold-start ranking).

The bundle is a folder saved next to the model in MLflow (`recommender/`), so a served model always has
the exact id maps it was trained with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.features import IdMaps

BUNDLE_DIR = "recommender"


class UnknownUser(KeyError):
    """The user is not in the model's id map (new or anonymous): use the cold-start path."""


@dataclass(frozen=True)
class Movie:
    movie_id: int
    title: str
    genres: list[str]
    year: int | None

    def to_dict(self) -> dict:
        return {"movie_id": self.movie_id, "title": self.title, "genres": self.genres, "year": self.year}


def cold_start_scores(ratings: pd.DataFrame, min_count: int = 10) -> pd.Series:
    """Damped popularity: log-count times the Bayesian-average rating (m = min_count pseudo-ratings of the mean).

    Unlike "highest mean rating", a movie rated 5.0 by one person does not top the list.
    """
    stats = ratings.groupby("item_id").rating.agg(["count", "mean"])
    prior = ratings.rating.mean()
    bayes = (stats["count"] * stats["mean"] + min_count * prior) / (stats["count"] + min_count)
    return (np.log1p(stats["count"]) * bayes / 5.0).sort_values(ascending=False, kind="stable")


def save_bundle(folder: Path, maps: IdMaps, interactions: pd.DataFrame, movies: pd.DataFrame,
                cold_scores: pd.Series) -> Path:  # fmt: skip
    """Write the serving bundle: id maps, per-user seen items (CSR), catalog, cold-start ranking."""
    folder.mkdir(parents=True, exist_ok=True)
    maps.save(folder / "id_maps.json")
    enc = maps.encode(interactions).sort_values(["user_idx", "item_idx"])
    indptr = np.concatenate([[0], np.cumsum(np.bincount(enc.user_idx, minlength=maps.n_users))])
    np.savez_compressed(folder / "seen.npz", indptr=indptr, indices=enc.item_idx.to_numpy(np.int32))
    movies.assign(year=movies.year.astype("Int64")).to_csv(folder / "movies.csv", index=False)
    pd.DataFrame({"item_id": cold_scores.index, "score": cold_scores.values}).to_csv(
        folder / "cold_start.csv", index=False
    )
    return folder


class Recommender:
    """Top-k for known users with one model call over the catalog; damped popularity for everyone else."""

    def __init__(self, scorer, folder: Path):
        self.scorer = scorer
        self.maps = IdMaps.load(folder / "id_maps.json")
        seen = np.load(folder / "seen.npz")
        self._seen_indptr, self._seen_indices = seen["indptr"], seen["indices"]
        movies = pd.read_csv(folder / "movies.csv", keep_default_na=False, na_values={"year": [""]})
        self.movies: dict[int, Movie] = {
            int(r.item_id): Movie(
                int(r.item_id),
                str(r.title),
                [g for g in str(r.genres).split("|") if g],
                None if pd.isna(r.year) else int(r.year),
            )  # fmt: skip
            for r in movies.itertuples()
        }
        cold = pd.read_csv(folder / "cold_start.csv")
        self._cold_ids = cold.item_id.to_numpy(np.int64)
        self._cold_scores = cold.score.to_numpy(np.float64)
        self.genres = sorted({g for m in self.movies.values() for g in m.genres if g != "(no genres listed)"})
        self._all_items = np.arange(self.maps.n_items, dtype=np.int32)

    def known_user(self, user_id: int) -> bool:
        return int(self.maps.user_index(np.array([user_id]))[0]) >= 0

    def has_movie(self, movie_id: int) -> bool:
        return movie_id in self.movies

    def _user_idx(self, user_id: int) -> int:
        idx = int(self.maps.user_index(np.array([user_id]))[0])
        if idx < 0:
            raise UnknownUser(user_id)
        return idx

    def seen(self, user_id: int) -> set[int]:
        """Movies the user interacted with in the training data (raw ids)."""
        u = self._user_idx(user_id)
        idx = self._seen_indices[self._seen_indptr[u] : self._seen_indptr[u + 1]]
        return set(self.maps.item_ids[idx].tolist())

    def top_k(self, user_id: int, k: int = 10, exclude: Iterable[int] = ()) -> list[tuple[int, float]]:
        """Top-k (movie_id, score) over the catalog, without seen and excluded movies."""
        u = self._user_idx(user_id)
        scores = self.scorer.score(np.full(len(self._all_items), u, dtype=np.int32), self._all_items)
        scores[self._seen_indices[self._seen_indptr[u] : self._seen_indptr[u + 1]]] = -np.inf
        excluded = self.maps.item_index(np.fromiter(exclude, dtype=np.int64))
        scores[excluded[excluded >= 0]] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.maps.item_ids[i]), float(scores[i])) for i in top]

    def cold_start(self, k: int = 10, genres: Iterable[str] | None = None,
                   exclude: Iterable[int] = ()) -> list[tuple[int, float]]:  # fmt: skip
        """Damped-popularity top-k, optionally only movies having at least one of `genres`."""
        wanted = {g.lower() for g in genres or () if g}
        skip = set(exclude)
        out: list[tuple[int, float]] = []
        for movie_id, score in zip(self._cold_ids, self._cold_scores, strict=False):
            if movie_id in skip:
                continue
            if wanted:
                movie = self.movies.get(int(movie_id))
                if movie is None or not wanted.intersection(g.lower() for g in movie.genres):
                    continue
            out.append((int(movie_id), float(score)))
            if len(out) >= k:
                break
        return out
