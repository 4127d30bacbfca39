"""Ranking metrics as small pure functions.

Sampled protocol (leave-one-out): `ranks` is the 0-based rank of the held-out item among its candidates.
Full-ranking protocol: `relevant` is a list of per-user sets of relevant items and `recommended` a list of
per-user ranked lists (seen items already removed), all aligned by user.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np

# one user's ranked item ids: a list or a NumPy row
Ranked: TypeAlias = Sequence[Any] | np.ndarray


def hit_rate_at_k(ranks: np.ndarray, k: int = 10) -> float:
    """Share of users whose held-out item is in the top k."""
    ranks = np.asarray(ranks)
    return float(np.mean(ranks < k)) if len(ranks) else 0.0


def sampled_ndcg_at_k(ranks: np.ndarray, k: int = 10) -> float:
    """NDCG with a single relevant item: 1/log2(rank+2) when it is in the top k, else 0."""
    ranks = np.asarray(ranks, dtype=float)
    if not len(ranks):
        return 0.0
    return float(np.mean(np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)))


def _hits(relevant: set, recommended: Ranked, k: int) -> np.ndarray:
    return np.fromiter((item in relevant for item in list(recommended)[:k]), dtype=bool)


def precision_at_k(relevant: Sequence[set], recommended: Sequence[Ranked], k: int = 10) -> float:
    """Mean over users of (hits in top k) / k."""
    return (
        float(
            np.mean([_hits(rel, rec, k).sum() / k for rel, rec in zip(relevant, recommended, strict=False)])
        )
        if relevant
        else 0.0
    )


def recall_at_k(relevant: Sequence[set], recommended: Sequence[Ranked], k: int = 10) -> float:
    """Mean over users of (hits in top k) / |relevant|."""
    values = [
        _hits(rel, rec, k).sum() / len(rel) for rel, rec in zip(relevant, recommended, strict=False) if rel
    ]
    return float(np.mean(values)) if values else 0.0


def ndcg_per_user(relevant: Sequence[set], recommended: Sequence[Ranked], k: int = 10) -> np.ndarray:
    """Binary-relevance NDCG@k of each user with at least one relevant item (ideal: min(k, |relevant|) hits on top)."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    values = []
    for rel, rec in zip(relevant, recommended, strict=True):
        if not rel:
            continue
        hits = _hits(rel, rec, k)
        values.append(
            float((hits * discounts[: len(hits)]).sum()) / float(discounts[: min(k, len(rel))].sum())
        )
    return np.asarray(values, dtype=float)


def ndcg_at_k(relevant: Sequence[set], recommended: Sequence[Ranked], k: int = 10) -> float:
    """Mean of ndcg_per_user."""
    values = ndcg_per_user(relevant, recommended, k)
    return float(values.mean()) if len(values) else 0.0


def mean_ci95(values: np.ndarray) -> float:
    """Half-width of the normal-approximation 95% confidence interval of the mean (user-sampled evaluation)."""
    return float(1.96 * values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def map_at_k(relevant: Sequence[set], recommended: Sequence[Ranked], k: int = 10) -> float:
    """Mean average precision: sum of precision@i at each hit i <= k, divided by |relevant| (as microsoft/recommenders)."""
    values = []
    for rel, rec in zip(relevant, recommended, strict=False):
        if not rel:
            continue
        hits = _hits(rel, rec, k)
        precisions = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        values.append(float((precisions * hits).sum()) / len(rel))
    return float(np.mean(values)) if values else 0.0


def catalog_coverage(recommended: Sequence[Ranked], n_items: int, k: int = 10) -> float:
    """Share of the catalog that appears in at least one user's top k."""
    shown = {item for rec in recommended for item in list(rec)[:k]}
    return len(shown) / n_items if n_items else 0.0
