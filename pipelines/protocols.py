"""microsoft/recommenders' benchmark protocol, reproduced exactly, so our figures sit next to their published table.

`python_stratified_split(data, ratio=0.75, filter_by="item", seed=42)`: `np.random.seed(seed)`, one uniform draw per
row in the data's own order, rows sorted by (item, draw), and each item's first 75% (rank/count <= 0.75) go to
train. Every test rating is relevant (also for items that never appear in train: they count as misses), top-k with
the user's train items removed, only users present in train are scored (their `merge_ranking_true_pred`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipelines import metrics

PROTOCOL = "recommenders_item_split"


def recommenders_item_split(
    ratings: pd.DataFrame, ratio: float = 0.75, seed: int = 42, by: str = "item_id"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) rows of `ratings` (canonical columns, file order), as their stratified splitter cuts them."""
    draws = np.random.RandomState(seed).rand(len(ratings))  # = np.random.seed(seed); np.random.rand(n)
    data = ratings.assign(_random=draws).sort_values([by, "_random"])
    groups = data.groupby(by)
    rank = (groups.cumcount() + 1) / groups[by].transform("count")
    data = data.drop(columns="_random")
    return data[rank <= ratio], data[rank > ratio]


def ranking_metrics(
    test: pd.DataFrame, users: Sequence[int], recommended: Sequence[Sequence[int]], k: int = 10
) -> dict[str, float]:
    """Their four headline metrics on raw ids: `recommended[i]` is the ranked raw item ids for raw user `users[i]`."""
    truth = test.groupby("user_id").item_id.apply(set)
    relevant = [truth.get(u, set()) for u in users]
    keep = [i for i, rel in enumerate(relevant) if rel]
    relevant = [relevant[i] for i in keep]
    ranked = [list(recommended[i]) for i in keep]
    return {
        f"ndcg_at_{k}": metrics.ndcg_at_k(relevant, ranked, k),
        "map": metrics.map_at_k(relevant, ranked, k),
        f"precision_at_{k}": metrics.precision_at_k(relevant, ranked, k),
        f"recall_at_{k}": metrics.recall_at_k(relevant, ranked, k),
    }
