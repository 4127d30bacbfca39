"""Serving-time scorer in NumPy: the trained Keras model's item-side tensors, precomputed, so a request is a few
small matrix products over the catalog instead of a deep-learning call (and serving needs no TensorFlow).

Every model type reduces to

    logit(u, i) = item_dot[i] . user_dot[u] + mlp(item_first[i] + user_mlp[u] @ first_user_w) + item_bias[i]
                  + user_bias[u]

MF: item_dot = item table; GMF: item table times the output weights (the elementwise product folds into it);
MLP: the first dense layer splits over the concatenation [user, item], so its item half plus bias is precomputed
per item (`item_first`); NeuMF: both. The output bias is folded into `item_bias`. Content MF: item rows are the
ID embedding plus the projected content features; `content_w` / `content_b` (the projections) give a movie added
after training its row from its features alone (`with_new_items`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1


@dataclass(frozen=True)
class FastScorer:
    """The model as NumPy arrays; `score_user` / `score_vector` return one score per catalog item."""

    output: str  # "sigmoid" (probability) or "logit", as the Keras model returns
    item_dot: np.ndarray  # (n_items, d_dot), d_dot = 0 for MLP
    user_dot: np.ndarray  # (n_users, d_dot)
    item_bias: np.ndarray  # (n_items,) item bias + output-layer bias
    user_bias: np.ndarray  # (n_users,) MF's user bias, zeros otherwise
    item_first: np.ndarray  # (n_items, h1) item half of the first MLP layer + its bias; h1 = 0 without MLP
    first_user_w: np.ndarray  # (d_mlp, h1) user half of the first MLP layer
    user_mlp: np.ndarray  # (n_users, d_mlp)
    hidden: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # further dense layers (relu)
    mlp_out: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # (h_last,) output weights
    content_w: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (n_features, d_dot)
    content_b: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # (n_features,)

    # --- shapes -----------------------------------------------------------------------------------------------

    @property
    def n_items(self) -> int:
        return len(self.item_bias)

    @property
    def n_users(self) -> int:
        return len(self.user_bias)

    @property
    def d_dot(self) -> int:
        return self.item_dot.shape[1]

    @property
    def has_mlp(self) -> bool:
        return self.item_first.shape[1] > 0

    @property
    def has_content(self) -> bool:
        """True when new items can be placed from content features (a content-aware model)."""
        return self.content_w.shape[0] > 0

    def content_rows(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(item_dot rows, item_bias) of movies known only by their content features (no ID part)."""
        if not self.has_content:
            raise ValueError(
                "this model has no content projection: it cannot place a movie without interactions"
            )
        features = np.asarray(features, dtype=np.float32)
        return features @ self.content_w, features @ self.content_b

    def with_new_items(self, features: np.ndarray) -> FastScorer:
        """A scorer whose catalog ends with the given movies (rows from their content alone)."""
        if self.has_mlp:
            raise ValueError("new items from content are supported for dot-product models only")
        dot, bias = self.content_rows(features)
        return replace(self, item_dot=np.vstack([self.item_dot, dot]), item_bias=np.concatenate([self.item_bias, bias]),
                       item_first=np.zeros((len(self.item_bias) + len(bias), 0), np.float32))  # fmt: skip

    def take_items(self, order: np.ndarray) -> FastScorer:
        """The same model with its catalog rows in `order` (e.g. re-sorted after new items were appended)."""
        return replace(self, item_dot=self.item_dot[order], item_bias=self.item_bias[order],
                       item_first=self.item_first[order])  # fmt: skip

    def user_repr(self, user_idx: int) -> np.ndarray:
        """The user's row: [dot part, MLP part] (what fold-in estimates for a new user)."""
        return np.concatenate([self.user_dot[user_idx], self.user_mlp[user_idx]])

    def mean_user_repr(self) -> np.ndarray:
        """The average training user: the prior a fold-in starts from."""
        return np.concatenate([self.user_dot.mean(axis=0), self.user_mlp.mean(axis=0)]).astype(np.float32)

    # --- scoring ----------------------------------------------------------------------------------------------

    def logits(self, user_repr: np.ndarray, user_bias: float = 0.0) -> np.ndarray:
        """Raw scores of every item for one user representation [dot part, MLP part]."""
        user_repr = np.asarray(user_repr, dtype=np.float32)
        # a new array: the in-place sums below allocate nothing more
        out = self.item_bias + np.float32(user_bias)
        if self.d_dot:
            out += self.item_dot @ user_repr[: self.d_dot]
        if self.has_mlp:
            out += self.mlp_forward(user_repr[self.d_dot :])[-1] @ self.mlp_out
        return out

    def mlp_forward(self, user_mlp: np.ndarray) -> list[np.ndarray]:
        """Post-relu activations of every MLP layer over the catalog (fold-in backpropagates through them)."""
        h = np.maximum(self.item_first + user_mlp @ self.first_user_w, 0.0)
        layers = [h]
        for w, b in self.hidden:
            h = np.maximum(h @ w + b, 0.0)
            layers.append(h)
        return layers

    def _activate(self, logits: np.ndarray) -> np.ndarray:
        if self.output == "sigmoid":
            return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        return logits.astype(np.float32, copy=False)

    def score_user(self, user_idx: int) -> np.ndarray:
        """Scores of every item for a known user index: the Keras model's output, to float32 precision."""
        return self._activate(self.logits(self.user_repr(user_idx), float(self.user_bias[user_idx])))

    def score_users(self, user_idx: np.ndarray) -> np.ndarray:
        """(len(user_idx), n_items) scores of known users: one matrix product for dot-product models."""
        user_idx = np.asarray(user_idx, dtype=np.int64)
        if self.has_mlp:
            return np.stack([self.score_user(int(u)) for u in user_idx])
        logits = self.user_dot[user_idx] @ self.item_dot.T + self.item_bias + self.user_bias[user_idx, None]
        return self._activate(logits)

    def score_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        """One score per (user, item) pair of known users: row-wise dot products, no catalog rows (dot models)."""
        if self.has_mlp:
            raise ValueError("pairwise scoring of an MLP tower goes through score_user (see FastPairScorer)")
        u, i = np.asarray(user_idx, dtype=np.int64), np.asarray(item_idx, dtype=np.int64)
        logits = (
            np.einsum("ij,ij->i", self.user_dot[u], self.item_dot[i]) + self.item_bias[i] + self.user_bias[u]
        )
        return self._activate(logits)

    def score_vector(self, user_repr: np.ndarray) -> np.ndarray:
        """Scores of every item for a folded-in user representation (no user bias: it cannot change a ranking)."""
        return self._activate(self.logits(user_repr))

    # --- persistence (NumPy only: no TensorFlow import on the load/score path) ---------------------------------

    def save(self, path: Path) -> Path:
        arrays = {name: getattr(self, name) for name in (*_ARRAYS, *_CONTENT_ARRAYS)}
        for n, (w, b) in enumerate(self.hidden):
            arrays[f"hidden_w_{n}"], arrays[f"hidden_b_{n}"] = w, b
        np.savez(path, output=np.array(self.output), format_version=np.array(FORMAT_VERSION),
                 n_hidden=np.array(len(self.hidden)), **arrays)  # fmt: skip
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> FastScorer:
        with np.load(path, allow_pickle=False) as z:
            if int(z["format_version"]) != FORMAT_VERSION:
                raise ValueError(
                    f"{path}: fast-scorer format {int(z['format_version'])}, expected {FORMAT_VERSION}"
                )
            hidden = [(z[f"hidden_w_{n}"], z[f"hidden_b_{n}"]) for n in range(int(z["n_hidden"]))]
            optional = {
                name: z[name] for name in _CONTENT_ARRAYS if name in z.files
            }  # bundles of ID-only models
            return cls(
                output=str(z["output"]), hidden=hidden, **{name: z[name] for name in _ARRAYS}, **optional
            )

    @classmethod
    def from_keras(cls, model) -> FastScorer:
        """Extract the arrays from a model built by pipelines.models (any MODEL_TYPES, either output)."""
        from pipelines.keras_extract import extract_arrays

        return cls(**extract_arrays(model))


_ARRAYS = (
    "item_dot",
    "user_dot",
    "item_bias",
    "user_bias",
    "item_first",
    "first_user_w",
    "user_mlp",
    "mlp_out",
)
_CONTENT_ARRAYS = ("content_w", "content_b")


def top_k(scores: np.ndarray, k: int, exclude_idx: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k best scores, best first, excluded indices (e.g. seen items; -1 = unknown) left out.

    Request path: one copy only when something is excluded, no full-catalog pass beyond the partition (excluded or
    non-finite scores are dropped from the k selected)."""
    scores = np.asarray(scores, dtype=np.float32)
    if exclude_idx is not None and len(exclude_idx):
        exclude_idx = np.asarray(exclude_idx, dtype=np.int64)
        scores = scores.copy()
        scores[exclude_idx[(exclude_idx >= 0) & (exclude_idx < len(scores))]] = -np.inf
    k = min(k, len(scores))
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    negated = -scores
    top = np.argpartition(negated, k - 1)[:k]
    top = top[np.argsort(negated[top], kind="stable")]
    return top[np.isfinite(scores[top])].astype(np.int64)
