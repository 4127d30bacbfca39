"""Evaluation of a scorer under the split's protocol (sampled leave-one-out or full ranking)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from pipelines import metrics
from pipelines.features import Split, user_item_sets


class Scorer(Protocol):
    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray: ...


def leave_one_out_ranks(scorer: Scorer, split: Split, chunk: int = 200_000) -> np.ndarray:
    """0-based rank of each held-out item among itself + its sampled negatives (ties count against it)."""
    test_items = split.test.item_idx.to_numpy()[:, None]
    candidates = np.concatenate([test_items, split.test_negatives], axis=1)
    users = np.repeat(split.test.user_idx.to_numpy(), candidates.shape[1])
    flat = candidates.ravel()
    scores = np.concatenate(
        [scorer.score(users[i : i + chunk], flat[i : i + chunk]) for i in range(0, len(flat), chunk)]
    )
    scores = scores.reshape(candidates.shape)
    return (scores[:, 1:] >= scores[:, :1]).sum(axis=1)


def evaluate_leave_one_out(scorer: Scorer, split: Split, k: int = 10) -> dict[str, float]:
    ranks = leave_one_out_ranks(scorer, split)
    return {
        f"hr_at_{k}": metrics.hit_rate_at_k(ranks, k),
        f"ndcg_at_{k}": metrics.sampled_ndcg_at_k(ranks, k),
    }


def top_k_unseen(scorer: Scorer, users: np.ndarray, seen: list[np.ndarray], n_items: int, k: int,
                 user_batch: int = 32) -> list[np.ndarray]:  # fmt: skip
    """Top-k item indices per user over the whole catalog, seen items removed."""
    all_items = np.arange(n_items)
    out: list[np.ndarray] = []
    for start in range(0, len(users), user_batch):
        batch = users[start : start + user_batch]
        scores = scorer.score(np.repeat(batch, n_items), np.tile(all_items, len(batch))).reshape(
            len(batch), n_items
        )
        for row, u in enumerate(batch):
            scores[row, seen[u]] = -np.inf
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out.extend(np.take_along_axis(top, order, axis=1))
    return out


def evaluate_full_ranking(
    scorer: Scorer, split: Split, n_users: int, n_items: int, k: int = 10
) -> dict[str, float]:
    seen = user_item_sets(split.train, n_users)
    truth = user_item_sets(split.test, n_users)
    users = np.array(sorted(split.test.user_idx.unique()))
    recommended = top_k_unseen(scorer, users, seen, n_items, k)
    relevant = [set(truth[u].tolist()) for u in users]
    return {
        f"precision_at_{k}": metrics.precision_at_k(relevant, recommended, k),
        f"recall_at_{k}": metrics.recall_at_k(relevant, recommended, k),
        f"ndcg_at_{k}": metrics.ndcg_at_k(relevant, recommended, k),
        f"map_at_{k}": metrics.map_at_k(relevant, recommended, k),
        f"coverage_at_{k}": metrics.catalog_coverage(recommended, n_items, k),
    }


def evaluate(scorer: Scorer, split: Split, n_users: int, n_items: int, k: int = 10) -> dict[str, float]:
    """Metrics of the split's own protocol; both protocols report ndcg_at_k (the promotion metric)."""
    if split.protocol == "leave_one_out":
        return evaluate_leave_one_out(scorer, split, k)
    return evaluate_full_ranking(scorer, split, n_users, n_items, k)
