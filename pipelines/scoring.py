"""Serving-side recommender: the model plus its bundle (id maps, seen items, catalog, cold-start ranking).

The bundle is a folder saved next to the model in MLflow (`recommender/`), so a served model always has
the exact id maps it was trained with.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.content import ItemFeatureSpec
from pipelines.fast_scoring import FastScorer, top_k
from pipelines.features import IdMaps
from pipelines.foldin import FoldIn, FoldInConfig

BUNDLE_DIR = "recommender"
FAST_SCORER_FILE = "fast_scorer.npz"  # the model as NumPy arrays: serving needs no TensorFlow


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
                cold_scores: pd.Series, fast: FastScorer | None = None,
                content_spec: ItemFeatureSpec | None = None) -> Path:  # fmt: skip
    """Write the serving bundle: id maps, per-user seen items (CSR), catalog, cold-start ranking, NumPy scorer,
    and for a content-aware model the feature spec that places movies added later."""
    folder.mkdir(parents=True, exist_ok=True)
    if content_spec is not None:
        content_spec.save(folder)
    if fast is not None:
        fast.save(folder / FAST_SCORER_FILE)
    maps.save(folder / "id_maps.json")
    enc = maps.encode(interactions).sort_values(["user_idx", "item_idx"])
    indptr = np.concatenate([[0], np.cumsum(np.bincount(enc.user_idx, minlength=maps.n_users))])
    np.savez_compressed(folder / "seen.npz", indptr=indptr, indices=enc.item_idx.to_numpy(np.int32))
    movies.assign(year=movies.year.astype("Int64")).to_csv(folder / "movies.csv", index=False)
    pd.DataFrame({"item_id": cold_scores.index, "score": cold_scores.values}).to_csv(
        folder / "cold_start.csv", index=False
    )
    return folder


class FastPairScorer:
    """pipelines.evaluate's Scorer over a FastScorer: pairs, or whole catalog rows (`score_users`)."""

    def __init__(self, fast: FastScorer):
        self.fast = fast

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self.fast.score_users(users) if len(users) else np.empty((0, 0))

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        users, items = np.asarray(users), np.asarray(items)
        if not self.fast.has_mlp:
            return self.fast.score_pairs(users, items)
        # MLP towers: one catalog row per distinct user, pairs grouped by a sort (not a mask per user: quadratic)
        out = np.empty(len(users), dtype=np.float32)
        order = np.argsort(users, kind="stable")
        distinct, starts = np.unique(users[order], return_index=True)
        for u, rows in zip(distinct, np.split(order, starts[1:]), strict=True):
            out[rows] = self.fast.score_user(int(u))[items[rows]]
        return out


class Recommender:
    """Top-k over the catalog from the NumPy scorer (or a Keras scorer for old bundles); fold-in of fresh clicks;
    damped popularity for everyone else."""

    def __init__(self, scorer, folder: Path, foldin: FoldInConfig | None = None):
        fast_file = folder / FAST_SCORER_FILE
        self.fast = FastScorer.load(fast_file) if fast_file.exists() else None
        self.scorer = FastPairScorer(self.fast) if self.fast is not None else scorer
        self.foldin = FoldIn(self.fast, foldin) if self.fast is not None else None
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
        self._cold_lookup: dict[int, float] | None = None
        if self.foldin is not None:  # few fresh clicks shrink towards the cold-start ranking (see foldin.py)
            self.foldin = self.foldin.with_popularity(self._item_idx(self._cold_ids), self._cold_scores)
        self.genres = sorted({g for m in self.movies.values() for g in m.genres if g != "(no genres listed)"})
        self._all_items = np.arange(self.maps.n_items, dtype=np.int32)
        self.content_spec = ItemFeatureSpec.load(folder)
        self.added_at: dict[int, float] = {}  # movies added after training: movie_id -> epoch seconds

    # --- movies added after training (placed from their content) ---------------------------------------------

    @property
    def places_new_movies(self) -> bool:
        """True when the model can give a movie without interactions a vector (a content-aware model)."""
        return self.fast is not None and self.fast.has_content and self.content_spec is not None

    def with_movies(self, added: pd.DataFrame) -> Recommender:
        """A copy whose catalog also holds `added` (item_id, title, genres, year, added_at), each placed from its
        content alone; movies already in the catalog are skipped. The original keeps serving meanwhile."""
        added = added[~added.item_id.isin(list(self.movies))]
        if added.empty:
            return self
        if not self.places_new_movies:
            raise ValueError("this model has no content features: new movies wait for the next retrain")
        fast = self.fast.with_new_items(self.content_spec.encode(added))
        ids = np.concatenate([self.maps.item_ids, added.item_id.to_numpy(np.int64)])
        order = np.argsort(ids, kind="stable")  # id lookups need sorted ids
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        out = copy.copy(self)
        out.fast = fast.take_items(order)
        out.scorer = FastPairScorer(out.fast)
        out.foldin = FoldIn(out.fast, self.foldin.config, self.foldin.popular_repr)
        out.maps = IdMaps(self.maps.user_ids, ids[order])
        out._seen_indices = position[self._seen_indices]
        out._all_items = np.arange(len(ids), dtype=np.int32)
        out.movies = dict(self.movies)
        out.added_at = dict(self.added_at)
        for r in added.itertuples():
            out.movies[int(r.item_id)] = Movie(
                int(r.item_id), str(r.title), str(r.genres).split("|"), int(r.year)
            )
            out.added_at[int(r.item_id)] = float(r.added_at)
        return out

    def _person_scores(self, found: int, events: list[tuple[int, str]]) -> np.ndarray:
        """Catalog scores for a user index (-1: unknown) with fresh clicks folded in; the average user without."""
        folded = self._fold(found, events) if events and self.foldin is not None else None
        if folded is not None:
            return self.fast.score_vector(folded[0])
        if found >= 0:
            return self._scores(found)
        return self.fast.score_vector(self.fast.mean_user_repr())

    def rank_movies(self, candidates: Iterable[int], user_id: int | None = None,
                    events: list[tuple[int, str]] | None = None, k: int = 10) -> list[tuple[int, float]]:  # fmt: skip
        """The best k of `candidates` (e.g. this week's new movies) for the user: their trained vector, fresh
        clicks folded in, or the average user's; seen and clicked movies left out."""
        found = self._find_user(user_id) if user_id is not None else -1
        scores = self._person_scores(found, events or [])
        exclude = set(self.maps.item_ids[self._seen_idx(found)].tolist()) if found >= 0 else set()
        exclude |= {m for m, _ in events or ()}
        wanted = np.array([m for m in candidates if m not in exclude], dtype=np.int64)
        idx = self._item_idx(wanted)
        wanted, idx = wanted[idx >= 0], idx[idx >= 0]
        best = np.argsort(-scores[idx], kind="stable")[:k]
        return [(int(wanted[i]), float(scores[idx[i]])) for i in best]

    def known_user(self, user_id: int) -> bool:
        return self._find_user(user_id) >= 0

    def _find_user(self, user_id: int) -> int:
        """Index of one raw user id, -1 when unknown: a scalar binary search (the request path looks up one id;
        `IdMaps.user_index` builds, clips and compares whole arrays, ~10x slower for one)."""
        ids = self.maps.user_ids
        pos = int(ids.searchsorted(user_id))
        return pos if pos < len(ids) and ids[pos] == user_id else -1

    def _item_idx(self, movie_ids: np.ndarray) -> np.ndarray:
        """`IdMaps.item_index` for the request path: the same answer (-1 = unknown) without np.clip's overhead."""
        ids = self.maps.item_ids
        if len(ids) == 0:
            return np.full(len(movie_ids), -1, dtype=np.int64)
        pos = np.minimum(ids.searchsorted(movie_ids), len(ids) - 1)
        return np.where(ids[pos] == movie_ids, pos, -1).astype(np.int64)

    def has_movie(self, movie_id: int) -> bool:
        return movie_id in self.movies

    def _user_idx(self, user_id: int) -> int:
        idx = self._find_user(user_id)
        if idx < 0:
            raise UnknownUser(user_id)
        return idx

    def _seen_idx(self, u: int) -> np.ndarray:
        return self._seen_indices[self._seen_indptr[u] : self._seen_indptr[u + 1]]

    def seen(self, user_id: int) -> set[int]:
        """Movies the user interacted with in the training data (raw ids)."""
        return set(self.maps.item_ids[self._seen_idx(self._user_idx(user_id))].tolist())

    def _scores(self, u: int) -> np.ndarray:
        if self.fast is not None:
            return self.fast.score_user(u)
        return self.scorer.score(np.full(len(self._all_items), u, dtype=np.int32), self._all_items)

    def _ranked(self, scores: np.ndarray, k: int, exclude_idx: np.ndarray) -> list[tuple[int, float]]:
        top = top_k(scores, k, exclude_idx)
        # whole-array conversions (tolist gives the same Python ints/floats as int()/float() per element)
        return list(zip(self.maps.item_ids[top].tolist(), scores[top].tolist(), strict=True))

    def top_k(self, user_id: int, k: int = 10, exclude: Iterable[int] = ()) -> list[tuple[int, float]]:
        """Top-k (movie_id, score) over the catalog, without seen and excluded movies."""
        u = self._user_idx(user_id)
        excluded = np.fromiter(exclude, dtype=np.int64)
        seen = self._seen_idx(u)
        if len(excluded):
            seen = np.concatenate([seen, self._item_idx(excluded)])
        return self._ranked(self._scores(u), k, seen)

    def top_k_from_clicks(
        self, events: list[tuple[int, str]], k: int = 10, user_id: int | None = None
    ) -> tuple[list[tuple[int, float]], int] | None:
        """Top-k for a vector folded in from fresh (movie_id, event) clicks, oldest first, without a retrain.

        A known user's training history is folded in together with the clicks. Returns (items, clicks used), or
        None when no click is on a movie the model knows (or the bundle has no NumPy scorer): use popularity.
        """
        if self.foldin is None or not events:
            return None
        u = self._find_user(user_id) if user_id is not None else -1  # one id lookup on the request path
        folded = self._fold(u, events)
        if folded is None:
            return None
        user_repr, history, idx = folded
        used = min(int((idx >= 0).sum()), self.foldin.config.max_clicks)
        return self._ranked(self.fast.score_vector(user_repr), k, np.concatenate([history, idx])), used

    def _fold(
        self, u: int, events: list[tuple[int, str]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(folded user representation, training history, clicked item indices) for user index u (-1: unknown);
        None when no click is on a movie the model knows."""
        idx = self._item_idx(np.array([m for m, _ in events], dtype=np.int64))
        history = self._seen_idx(u) if u >= 0 else np.empty(0, dtype=np.int64)
        user_repr = self.foldin.user_repr(idx, [e for _, e in events], user_idx=u if u >= 0 else None,
                                          history_idx=history)  # fmt: skip
        return None if user_repr is None else (user_repr, history, idx)

    def cold_start(self, k: int = 10, genres: Iterable[str] | None = None, exclude: Iterable[int] = (),
                   boosts: Mapping[int, float] | None = None) -> list[tuple[int, float]]:  # fmt: skip
        """Damped-popularity top-k, optionally only movies having at least one of `genres`.

        `boosts` (movie_id -> share of the best damped-popularity score to add, e.g. what is trending now) re-rank
        the list: a boosted movie competes with its own score plus that share of the top score, wherever it sits
        in the popularity order.
        """
        top_score = float(self._cold_scores[0]) if len(self._cold_scores) else 1.0
        wanted = {g.lower() for g in genres or () if g}
        skip = set(exclude)

        def eligible(movie_id: int) -> bool:
            if movie_id in skip:
                return False
            if not wanted:
                return True
            movie = self.movies.get(movie_id)
            return movie is not None and bool(wanted.intersection(g.lower() for g in movie.genres))

        boosts = {m: b * top_score for m, b in (boosts or {}).items() if b > 0 and eligible(m)}
        depth = k + len(boosts)  # the k best un-boosted movies can only be pushed down by boosted ones
        out: list[tuple[int, float]] = []
        for raw_id, raw_score in zip(
            self._cold_ids, self._cold_scores, strict=False
        ):  # lazily: stops at depth
            movie_id = int(raw_id)
            if eligible(movie_id):
                out.append((movie_id, float(raw_score) + boosts.pop(movie_id, 0.0)))
                if len(out) >= depth:
                    break
        if boosts:  # boosted movies below that depth, or with no rating at all (added this week)
            cold = self._cold_score_by_id()
            out += [(m, cold.get(m, 0.0) + b) for m, b in boosts.items()]
        out.sort(key=lambda pair: -pair[1])
        return out[:k]

    def _cold_score_by_id(self) -> dict[int, float]:
        if self._cold_lookup is None:
            self._cold_lookup = dict(zip(self._cold_ids.tolist(), self._cold_scores.tolist(), strict=True))
        return self._cold_lookup
