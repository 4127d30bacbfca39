"""The new-item protocol: how well a model places movies it never saw an interaction for.

A seeded share of the movies is held out of training entirely. Every user who interacted with held-out movies
gets them ranked (the full catalog is scored; the ranking restricted to the held-out movies is what counts),
and recall@k / NDCG@k are measured against their interactions with those movies. An ID-only model can only
rank them at random; genre popularity ranks them by how popular their genres are in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines import metrics
from pipelines.content import ItemFeatureSpec


@dataclass
class NewItemSplit:
    """Training interactions (held-out movies removed) and the held-out movies' interactions (raw ids)."""

    train: pd.DataFrame
    test: pd.DataFrame
    held_out: np.ndarray  # raw movie ids


def hold_out_movies(interactions: pd.DataFrame, share: float = 0.1, seed: int = 42) -> NewItemSplit:
    """Hold a seeded `share` of the interacted movies out of training entirely."""
    movies = np.sort(interactions.item_id.unique())
    rng = np.random.default_rng(seed)
    held_out = np.sort(rng.choice(movies, size=max(1, round(share * len(movies))), replace=False))
    is_test = interactions.item_id.isin(held_out)
    return NewItemSplit(interactions[~is_test].reset_index(drop=True), interactions[is_test].reset_index(drop=True),
                        held_out)  # fmt: skip


def genre_popularity_scores(train: pd.DataFrame, movies: pd.DataFrame, candidates: np.ndarray) -> np.ndarray:
    """Each candidate's score: the mean share of training interactions of its genres (non-personalized)."""
    spec = ItemFeatureSpec.fit(movies)
    by_id = movies.set_index("item_id")
    genres = len(spec.genres)
    trained = spec.encode(by_id.reindex(train.item_id.to_numpy()).reset_index())[:, :genres].sum(axis=0)
    share = trained / max(trained.sum(), 1.0)
    features = spec.encode(by_id.reindex(candidates).reset_index())[:, :genres]
    return (features @ share) / np.maximum(features.sum(axis=1), 1.0)


def evaluate_new_items(user_scores, split: NewItemSplit, k: int = 10) -> dict[str, float]:
    """recall@k and NDCG@k of rankings restricted to the held-out movies.

    `user_scores(user_id) -> scores` gives one score per held-out movie (in `split.held_out` order), or None for a
    user the model cannot score (not in training): such users are skipped and counted.
    """
    relevant, ranked = [], []
    skipped = 0
    for user_id, movies in split.test.groupby("user_id").item_id:
        scores = user_scores(int(user_id))
        if scores is None:
            skipped += 1
            continue
        order = np.argsort(-np.asarray(scores), kind="stable")[:k]
        ranked.append(split.held_out[order])
        relevant.append(set(movies.tolist()))
    ndcg = metrics.ndcg_per_user(relevant, ranked, k)
    return {f"ndcg_at_{k}": float(ndcg.mean()) if len(ndcg) else 0.0,
            f"recall_at_{k}": metrics.recall_at_k(relevant, ranked, k), "users": len(relevant),
            "users_skipped": skipped, "ndcg_ci95": metrics.mean_ci95(ndcg)}  # fmt: skip


def content_scores(fast, maps, held_out_features: np.ndarray):
    """`user_scores` for evaluate_new_items from a content-aware FastScorer: each held-out movie's row comes from
    its features alone (as a movie added after training gets it); None for users the model does not know."""
    dot, bias = fast.content_rows(held_out_features)

    def scores(user_id: int) -> np.ndarray | None:
        u = int(maps.user_index(np.array([user_id]))[0])
        return None if u < 0 else dot @ fast.user_dot[u] + bias

    return scores
