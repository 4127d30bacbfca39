"""Preprocessing: contiguous id maps, implicit feedback, the two split protocols, negative sampling."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class IdMaps:
    """Raw MovieLens ids <-> contiguous indices (index i is row i of the embedding tables)."""

    user_ids: np.ndarray
    item_ids: np.ndarray

    @classmethod
    def fit(cls, interactions: pd.DataFrame) -> IdMaps:
        return cls(np.sort(interactions.user_id.unique()), np.sort(interactions.item_id.unique()))

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_index(self, raw: np.ndarray | pd.Series) -> np.ndarray:
        """Indices of raw user ids; -1 for ids not in the map."""
        return _lookup(self.user_ids, np.asarray(raw))

    def item_index(self, raw: np.ndarray | pd.Series) -> np.ndarray:
        return _lookup(self.item_ids, np.asarray(raw))

    def encode(self, interactions: pd.DataFrame) -> pd.DataFrame:
        """Add user_idx/item_idx columns; rows with unknown ids are dropped."""
        out = interactions.assign(user_idx=self.user_index(interactions.user_id),
                                  item_idx=self.item_index(interactions.item_id))  # fmt: skip
        return out[(out.user_idx >= 0) & (out.item_idx >= 0)]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"user_ids": self.user_ids.tolist(), "item_ids": self.item_ids.tolist()}))

    @classmethod
    def load(cls, path: Path) -> IdMaps:
        raw = json.loads(path.read_text())
        return cls(np.asarray(raw["user_ids"], dtype=np.int64), np.asarray(raw["item_ids"], dtype=np.int64))


def _lookup(sorted_ids: np.ndarray, raw: np.ndarray) -> np.ndarray:
    if len(sorted_ids) == 0:
        return np.full(len(raw), -1, dtype=np.int64)
    pos = np.clip(np.searchsorted(sorted_ids, raw), 0, len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == raw, pos, -1).astype(np.int64)


def to_implicit(ratings: pd.DataFrame, feedback: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every rating (and every click/like/watch) is a positive; one row per (user, item), its latest timestamp."""
    frames = [ratings[["user_id", "item_id", "timestamp"]]]
    if feedback is not None and not feedback.empty:
        frames.append(pd.DataFrame({"user_id": feedback.user_id.astype("int64"),
                                    "item_id": feedback.movie_id.astype("int64"),
                                    "timestamp": (feedback.ts.astype("int64") // 1000)}))  # fmt: skip
    df = pd.concat(frames, ignore_index=True)
    return (df.sort_values(["user_id", "timestamp", "item_id"], kind="stable")
              .drop_duplicates(["user_id", "item_id"], keep="last")
              .reset_index(drop=True))  # fmt: skip


@dataclass
class Split:
    """Train/test interactions in index space. `test_negatives` is set for the leave-one-out protocol."""

    protocol: str
    train: pd.DataFrame
    test: pd.DataFrame
    test_negatives: np.ndarray | None = None

    def summary(self) -> dict:
        return {"protocol": self.protocol, "train_rows": len(self.train), "test_rows": len(self.test),
                "test_users": int(self.test.user_idx.nunique())}  # fmt: skip


def user_item_sets(df: pd.DataFrame, n_users: int) -> list[np.ndarray]:
    """Per user index: the sorted item indices in df."""
    groups = df.groupby("user_idx").item_idx.apply(lambda s: np.sort(s.to_numpy()))
    out = [np.empty(0, dtype=np.int64)] * n_users
    for u, items in groups.items():
        out[int(u)] = items
    return out


def leave_one_out_split(
    encoded: pd.DataFrame, n_items: int, num_negatives: int = 99, seed: int = 42
) -> Split:
    """NCF paper protocol: each user's latest interaction is held out and ranked against sampled unseen items."""
    ordered = encoded.sort_values(["user_idx", "timestamp", "item_idx"], kind="stable")
    counts = ordered.groupby("user_idx").item_idx.transform("size")
    is_last = ~ordered.user_idx.duplicated(keep="last") & (counts > 1)
    test, train = ordered[is_last], ordered[~is_last]
    rng = np.random.default_rng(seed)
    all_pos = positive_keys(ordered, n_items)
    negatives = sample_negatives(rng, test.user_idx.to_numpy(), all_pos, n_items, num_negatives)
    return Split("leave_one_out", train.reset_index(drop=True), test.reset_index(drop=True),
                 negatives.reshape(len(test), num_negatives))  # fmt: skip


def full_ranking_split(
    encoded: pd.DataFrame, ratio: float = 0.75, seed: int = 42, by_time: bool = False
) -> Split:
    """Per-user stratified split (random with seed, as microsoft/recommenders, or chronological).

    Test rows whose item never appears in train are dropped (the model cannot rank them).
    """
    rng = np.random.default_rng(seed)
    if by_time:
        ordered = encoded.sort_values(["user_idx", "timestamp", "item_idx"], kind="stable")
    else:
        ordered = (
            encoded.assign(_r=rng.random(len(encoded))).sort_values(["user_idx", "_r"]).drop(columns="_r")
        )
    position = ordered.groupby("user_idx").cumcount()
    size = ordered.groupby("user_idx").item_idx.transform("size")
    in_train = position < np.maximum(1, np.round(size * ratio))
    train, test = ordered[in_train], ordered[~in_train]
    test = test[test.item_idx.isin(train.item_idx.unique())]
    protocol = "temporal" if by_time else "full_ranking"
    return Split(protocol, train.reset_index(drop=True), test.reset_index(drop=True))


def positive_keys(df: pd.DataFrame, n_items: int) -> np.ndarray:
    return np.unique(df.user_idx.to_numpy(np.int64) * n_items + df.item_idx.to_numpy(np.int64))


def sample_negatives(rng: np.random.Generator, users: np.ndarray, positive_keys: np.ndarray, n_items: int,
                     per_user: int) -> np.ndarray:  # fmt: skip
    """`per_user` items per entry of `users` that the user never interacted with (rejection sampling)."""
    users = np.repeat(users.astype(np.int64), per_user)
    items = rng.integers(0, n_items, size=len(users))
    for _ in range(20):
        bad = np.isin(users * n_items + items, positive_keys)
        if not bad.any():
            return items
        items[bad] = rng.integers(0, n_items, size=int(bad.sum()))
    # dense users: draw the stragglers from their explicit complement
    stragglers = np.flatnonzero(np.isin(users * n_items + items, positive_keys))
    for u in np.unique(users[stragglers]):
        lo, hi = np.searchsorted(positive_keys, [u * n_items, (u + 1) * n_items])
        unseen = np.setdiff1d(np.arange(n_items), positive_keys[lo:hi] - u * n_items, assume_unique=True)
        if len(unseen) == 0:
            raise ValueError(f"user index {u} has interacted with every item: no negative exists")
        rows = stragglers[users[stragglers] == u]
        items[rows] = rng.choice(unseen, size=len(rows))
    return items


class NegativeSampler:
    """Training instances: each positive plus `num_negatives` unseen items, resampled every epoch."""

    def __init__(self, train: pd.DataFrame, n_items: int, num_negatives: int = 4, seed: int = 42):
        self.users = train.user_idx.to_numpy(np.int32)
        self.items = train.item_idx.to_numpy(np.int32)
        self.n_items = n_items
        self.num_negatives = num_negatives
        self.positive_keys = positive_keys(train, n_items)
        self.rng = np.random.default_rng(seed)

    def epoch(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Shuffled (inputs, labels) for one epoch."""
        neg_items = sample_negatives(
            self.rng, self.users, self.positive_keys, self.n_items, self.num_negatives
        )
        users = np.concatenate([self.users, np.repeat(self.users, self.num_negatives)])
        items = np.concatenate([self.items, neg_items.astype(np.int32)])
        labels = np.concatenate([np.ones(len(self.users)), np.zeros(len(neg_items))]).astype(np.float32)
        order = self.rng.permutation(len(labels))
        return {"user": users[order].astype(np.int32), "item": items[order].astype(np.int32)}, labels[order]

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Shuffled (user, positive item, negative item) triples for one epoch: num_negatives per positive (BPR)."""
        neg_items = sample_negatives(
            self.rng, self.users, self.positive_keys, self.n_items, self.num_negatives
        )
        users, pos = np.repeat(self.users, self.num_negatives), np.repeat(self.items, self.num_negatives)
        order = self.rng.permutation(len(users))
        return users[order], pos[order], neg_items.astype(np.int32)[order]
