"""Evaluation of a scorer under the split's protocol: exact full-catalog ranking (temporal or random holdout) or
the NCF paper's sampled leave-one-out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from pipelines import metrics
from pipelines.beyond_accuracy import (
    genre_matrix,
    intra_list_diversity,
    item_popularity,
    novelty,
    popularity_bias,
)
from pipelines.features import Split, positive_keys, sample_negatives
from pipelines.settings import Settings


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


def top_k_unseen(scorer: Scorer, users: np.ndarray, seen: Mapping[int, np.ndarray] | list[np.ndarray], n_items: int, k: int,
                 user_batch: int = 32) -> list[np.ndarray]:  # fmt: skip
    """Top-k item indices per user over the whole catalog, seen items removed."""
    all_items = np.arange(n_items)
    out: list[np.ndarray] = []
    for start in range(0, len(users), user_batch):
        batch = users[start : start + user_batch]
        if hasattr(scorer, "score_users"):  # scorers that compute whole catalog rows at once (EASE, NumPy MF)
            scores = np.array(scorer.score_users(batch), dtype=np.float64)
        else:
            pairs = scorer.score(np.repeat(batch, n_items), np.tile(all_items, len(batch)))
            scores = np.asarray(pairs, dtype=np.float64).reshape(len(batch), n_items)
        for row, u in enumerate(batch):
            scores[row, seen[u]] = -np.inf
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out.extend(np.take_along_axis(top, order, axis=1))
    return out


@dataclass(frozen=True)
class EvalOptions:
    """What a full-ranking evaluation reports besides accuracy, and how many users it ranks."""

    item_genres: np.ndarray | None = None  # multi-hot genres per item index: intra-list diversity
    max_users: int | None = (
        None  # rank a seeded sample of at most this many test users (bounded cost at scale)
    )
    sampled_negatives: int = (
        0  # > 0: also the NCF paper's sampled leave-one-out on each user's latest test item
    )
    seed: int = 0


def options_for(cfg: Settings, movies: pd.DataFrame, item_ids: np.ndarray) -> EvalOptions:
    """The evaluation every model of a run gets (challenger, champion re-scored, popularity): same users, same extras."""
    genres = movies.set_index("item_id").genres.reindex(item_ids).fillna("").to_list()
    return EvalOptions(genre_matrix(genres), cfg.eval_max_users, cfg.num_eval_negatives, cfg.seed)


def items_of(df: pd.DataFrame, users: np.ndarray) -> dict[int, np.ndarray]:
    """Item indices of each requested user: one argsort, no per-group Python over the whole frame (the
    per-epoch curve at ml-25m size ranks 2,000 users out of 162k)."""
    by_user = df.user_idx.to_numpy()
    order = np.argsort(by_user, kind="stable")
    sorted_users, items = by_user[order], df.item_idx.to_numpy()[order]
    starts, ends = np.searchsorted(sorted_users, users, "left"), np.searchsorted(sorted_users, users, "right")
    return {int(u): items[a:b] for u, a, b in zip(users, starts, ends, strict=True)}


def _sample_users(users: np.ndarray, options: EvalOptions) -> np.ndarray:
    if options.max_users is None or len(users) <= options.max_users:
        return users
    rng = np.random.default_rng(options.seed)
    return np.sort(rng.choice(users, size=options.max_users, replace=False))


def sampled_leave_one_out(
    scorer: Scorer, split: Split, users: np.ndarray, n_items: int, negatives: int, k: int, seed: int
) -> dict[str, float]:
    """HR/NDCG@k of each user's latest test item among `negatives` sampled unseen items (for the NCF paper)."""
    test = split.test[split.test.user_idx.isin(users)]
    latest = test.sort_values(["user_idx", "timestamp", "item_idx"], kind="stable").drop_duplicates(
        "user_idx", keep="last"
    )
    # only these users' keys: the rejection loop's isin then sorts ~users x history, not every rating (25M)
    train = split.train[split.train.user_idx.isin(latest.user_idx.to_numpy())]
    positives = positive_keys(pd.concat([train, test]), n_items)
    rng = np.random.default_rng(seed)
    sampled = sample_negatives(rng, latest.user_idx.to_numpy(), positives, n_items, negatives)
    ranks = leave_one_out_ranks(
        scorer, Split("leave_one_out", split.train, latest, sampled.reshape(len(latest), negatives))
    )
    return {
        f"sampled_hr_at_{k}": metrics.hit_rate_at_k(ranks, k),
        f"sampled_ndcg_at_{k}": metrics.sampled_ndcg_at_k(ranks, k),
    }


def evaluate_full_ranking(
    scorer: Scorer, split: Split, n_users: int, n_items: int, k: int = 10, options: EvalOptions | None = None
) -> dict[str, float]:
    """Exact metrics: the whole catalog ranked, seen items removed; accuracy plus beyond-accuracy guardrails."""
    options = options or EvalOptions()
    users = _sample_users(np.array(sorted(split.test.user_idx.unique())), options)
    seen, truth = items_of(split.train, users), items_of(split.test, users)
    recommended = top_k_unseen(scorer, users, seen, n_items, k)
    relevant = [set(truth[u].tolist()) for u in users]
    per_user_ndcg = metrics.ndcg_per_user(relevant, recommended, k)
    popularity = item_popularity(split.train, n_items)
    out = {
        f"precision_at_{k}": metrics.precision_at_k(relevant, recommended, k),
        f"recall_at_{k}": metrics.recall_at_k(relevant, recommended, k),
        f"ndcg_at_{k}": float(per_user_ndcg.mean()) if len(per_user_ndcg) else 0.0,
        f"ndcg_at_{k}_ci95": metrics.mean_ci95(per_user_ndcg),
        f"map_at_{k}": metrics.map_at_k(relevant, recommended, k),
        f"coverage_at_{k}": metrics.catalog_coverage(recommended, n_items, k),
        f"novelty_at_{k}": novelty(recommended, popularity, k),
        f"popularity_bias_at_{k}": popularity_bias(recommended, popularity, k),
        "eval_users": float(len(users)),
    }
    if options.item_genres is not None:
        out[f"diversity_at_{k}"] = intra_list_diversity(recommended, options.item_genres, k)
    if options.sampled_negatives:
        out.update(
            sampled_leave_one_out(scorer, split, users, n_items, options.sampled_negatives, k, options.seed)
        )
    return out


def evaluate(
    scorer: Scorer, split: Split, n_users: int, n_items: int, k: int = 10, options: EvalOptions | None = None
) -> dict[str, float]:
    """Metrics of the split's own protocol; every protocol reports ndcg_at_k (the promotion metric)."""
    if split.protocol == "leave_one_out":
        return evaluate_leave_one_out(scorer, split, k)
    return evaluate_full_ranking(scorer, split, n_users, n_items, k, options)
