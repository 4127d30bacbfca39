"""Beyond-accuracy metrics of top-k lists: what a gate needs so that NDCG is not bought with blockbusters only.

All take `recommended` as per-user ranked item indices (as pipelines.evaluate produces them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipelines.metrics import Ranked


def item_popularity(train: pd.DataFrame, n_items: int) -> np.ndarray:
    """Share of training users who interacted with each item (0 for items absent from train)."""
    counts = np.bincount(train.item_idx.to_numpy(), minlength=n_items).astype(float)
    users = max(int(train.user_idx.nunique()), 1)
    return counts / users


def _top(recommended: Sequence[Ranked], k: int) -> np.ndarray:
    return (
        np.concatenate([np.asarray(list(rec)[:k], dtype=np.int64) for rec in recommended])
        if recommended
        else (np.empty(0, dtype=np.int64))
    )


def novelty(recommended: Sequence[Ranked], popularity: np.ndarray, k: int = 10) -> float:
    """Mean self-information -log2(p(item)) of recommended items (higher = less obvious); p floored at 1/users."""
    items = _top(recommended, k)
    if not len(items):
        return 0.0
    floor = popularity[popularity > 0].min() if (popularity > 0).any() else 1.0
    return float(np.mean(-np.log2(np.maximum(popularity[items], floor))))


def popularity_bias(recommended: Sequence[Ranked], popularity: np.ndarray, k: int = 10) -> float:
    """Mean popularity (share of training users) of recommended items: a blockbuster-only list scores high."""
    items = _top(recommended, k)
    return float(popularity[items].mean()) if len(items) else 0.0


def genre_matrix(item_genres: Sequence[str], separator: str = "|") -> np.ndarray:
    """Multi-hot genres per item index, from '|'-joined genre strings (ordered like the id map's items)."""
    names = sorted({g for genres in item_genres for g in str(genres).split(separator) if g})
    column = {g: j for j, g in enumerate(names)}
    out = np.zeros((len(item_genres), max(len(names), 1)), dtype=np.float32)
    for i, genres in enumerate(item_genres):
        for g in str(genres).split(separator):
            if g:
                out[i, column[g]] = 1.0
    return out


def intra_list_diversity(recommended: Sequence[Ranked], genres: np.ndarray, k: int = 10) -> float:
    """Mean over lists of the mean pairwise cosine distance between the genre vectors of the listed items."""
    values = []
    norms = np.linalg.norm(genres, axis=1)
    for rec in recommended:
        items = np.asarray(list(rec)[:k], dtype=np.int64)
        if len(items) < 2:
            continue
        unit = genres[items] / np.where(norms[items] > 0, norms[items], 1.0)[:, None]
        sim = unit @ unit.T
        pairs = len(items) * (len(items) - 1)
        values.append(1.0 - (sim.sum() - np.trace(sim)) / pairs)
    return float(np.mean(values)) if values else 0.0
