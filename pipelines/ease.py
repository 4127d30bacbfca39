"""EASE (Steck, WWW 2019): a closed-form item-item model, B = I - P / diag(P) with P = (X'X + lambda I)^-1.

One linear solve over the catalog: seconds for MovieLens-100k, but catalog^2 floats of memory, so the size is
checked against a limit before anything is allocated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

BYTES_PER_CELL = 8 * 3  # float64 Gram matrix, its inverse and the weights live at once


class ModelTooLargeError(ValueError):
    """The model's memory cost for this catalog exceeds the configured limit: nothing was trained."""


def check_memory(n_items: int, limit_gb: float) -> None:
    needed = n_items**2 * BYTES_PER_CELL / 2**30
    if needed > limit_gb:
        raise ModelTooLargeError(
            f"EASE over {n_items:,} items needs about {needed:.1f} GiB (catalog^2 floats, x3 while solving); "
            f"the limit is {limit_gb:g} GiB: use a smaller catalog, raise MOVIEREC_EASE_MAX_GB, or another model"
        )


@dataclass
class Ease:
    """Item-item weights over item indices 0..n_items-1, and the training interactions to score users from."""

    weights: np.ndarray  # (n_items, n_items), zero diagonal
    history: np.ndarray  # (n_users, n_items) binary interactions the scores are computed from

    @classmethod
    def fit(
        cls, train: pd.DataFrame, n_users: int, n_items: int, l2: float = 300.0, max_gb: float = 4.0
    ) -> Ease:
        """Closed form on the binary user x item matrix of `train` (columns user_idx, item_idx)."""
        check_memory(n_items, max_gb)
        history = np.zeros((n_users, n_items), dtype=np.float64)
        history[train.user_idx.to_numpy(), train.item_idx.to_numpy()] = 1.0
        gram = history.T @ history
        gram[np.diag_indices(n_items)] += l2
        precision = np.linalg.inv(gram)
        weights = -precision / np.diag(precision)
        weights[np.diag_indices(n_items)] = 0.0
        return cls(weights.astype(np.float32), history.astype(np.float32))

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """pipelines.evaluate's Scorer protocol: one score per (user, item) pair."""
        rows = self.history[users]
        return np.einsum("ij,ji->i", rows, self.weights[:, items]) if len(users) else np.empty(0, np.float32)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) scores at once: the fast path for full-catalog ranking."""
        return self.history[users] @ self.weights

    def save(self, path: Path) -> None:
        np.savez_compressed(path, weights=self.weights, history=self.history)

    @classmethod
    def load(cls, path: Path) -> Ease:
        data = np.load(path)
        return cls(data["weights"], data["history"])
