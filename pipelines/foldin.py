"""Fold-in: a user representation from fresh clicks against the fixed item side of a FastScorer, in NumPy.

Real-time personalization without a retrain. Three estimators (chosen by benchmarks/foldin.py, see RESULTS.md):

- `ridge`: the weighted least-squares projection of implicit's `recalculate_user` / iALS `Project()`:
  u = (a0 Q'Q + Q_S' W Q_S + lambda I)^-1 Q_S' W 1, clicked items as target 1, the whole catalog as weak zeros;
- `mean`: the weighted mean of the clicked items' vectors;
- `softmax`: a few gradient steps on the user's row against the training loss (softmax over the catalog), from
  a prior (the average training user, or the user's own row), backpropagated through the MLP tower in NumPy.
  The only estimator that moves an MLP user; NeuMF takes it too. `ridge` and `mean` set the dot part (MF,
  GMF, NeuMF's GMF half) and keep the MLP half at the prior.

Every estimator scales by `scale`: MF trained with softmax adds an item bias (popularity) that a tiny vector
cannot outweigh, so how far a few clicks move away from popularity is a tuned hyper-parameter.

The popularity prior (`ridge`, `mean`): `popular_repr` is the damped-popularity ranking projected onto the item
table (`fit_popularity`: the cold-start list as a user vector), so with no evidence a new user gets (nearly) the
cold-start list, not a worse one. A few clicks are weak evidence, and clicks on the most popular movies are weaker
still (MovieLens shows those at sign-up). Each click counts `min(1, (popularity rank / (popular_quantile *
n_items))^2)` (floor `MIN_EVIDENCE`; in the solve and in n), `w = n / (n + shrinkage)` for n counted clicks, and
`combine` says how the clicks' solve meets the prior in the dot part:

- `shrink`: `w * scale * solve + (1 - w) * popular_repr` (a convex mix: the clicks replace the prior);
- `offset`: `popular_repr + w * scale * solve` (the prior is the new user's row and the clicks move it, the rule
  of a known user below with the popularity vector as the trained row). The new user's list stays anchored on
  damped popularity, which is what a user's *later* interactions follow most (the chronological reveal).

A known user keeps the trained row and adds `known_scale` times the clicks' solve (what training learned stays;
re-solving the row from history + clicks lost part of it). Cost is bounded: the most recent `max_clicks` fresh
clicks (at most `max_history` training items when `known_scale` = 0 re-solves from history).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipelines.fast_scoring import FastScorer

METHODS = ("ridge", "mean", "softmax")
COMBINES = ("shrink", "offset")
EVENT_WEIGHTS = {"click": 1.0, "watch": 1.0, "like": 1.0}
MIN_EVIDENCE = 0.05  # what a click on the single most popular movie still counts


@dataclass(frozen=True)
class FoldInConfig:
    method: str = "ridge"
    scale: float = 1.0  # multiplies the solved dot-part vector (ridge, mean)
    ridge_lambda: float = 1.0
    unobserved_weight: float = 0.01  # a0: weight of "not clicked" (target 0) over the whole catalog
    steps: int = 10  # softmax
    learning_rate: float = 1.0  # softmax
    prior_l2: float = 0.1  # softmax: pull towards the prior row
    shrinkage: float = 0.0  # c in w = n / (n + c): pseudo-clicks of the popularity prior (0: no shrinkage)
    # how the clicks' solve meets the popularity prior: "shrink" (convex mix) or "offset" (prior + solve)
    combine: str = "shrink"
    # clicks within this top share of the popularity ranking count less (0: off)
    popular_quantile: float = 0.0
    # a known user: trained row + known_scale * solve(fresh clicks); 0: re-solve from history + clicks instead
    known_scale: float = 30.0  # chosen on half the known users of ml-latest-small with the service's settings
    max_clicks: int = 50
    max_history: int = 500
    history_weight: float = 1.0
    event_weights: Mapping[str, float] = field(default_factory=lambda: dict(EVENT_WEIGHTS))


class FoldIn:
    """Per-scorer state (the item Gram matrix, the prior) + `user_repr`, the per-request solve."""

    def __init__(
        self, scorer: FastScorer, config: FoldInConfig | None = None, popular_repr: np.ndarray | None = None
    ):
        """`popular_repr`: the popularity prior as a dot-part vector (`fit_popularity`); default: the average
        training user's."""
        self.scorer = scorer
        self.config = config or FoldInConfig()
        if self.config.method not in METHODS:
            raise ValueError(f"unknown fold-in method {self.config.method!r}; choose one of {METHODS}")
        if self.config.combine not in COMBINES:
            raise ValueError(f"unknown fold-in combine {self.config.combine!r}; choose one of {COMBINES}")
        if scorer.d_dot == 0 and self.config.method != "softmax":
            raise ValueError(
                f"method {self.config.method!r} solves the dot part, which an MLP has not: use softmax"
            )
        q = scorer.item_dot.astype(np.float64)
        self._gram = q.T @ q
        self._prior = scorer.mean_user_repr()
        d = scorer.d_dot
        self.popular_repr = (self._prior[:d] if popular_repr is None else np.asarray(popular_repr)).astype(
            np.float32
        )
        self._evidence = self._click_evidence()

    def with_popularity(self, item_idx: np.ndarray, scores: np.ndarray) -> FoldIn:
        """The same fold-in shrinking towards this popularity ranking (item indices, -1 ignored; higher = more).
        Shares the item Gram matrix and prior (the scorer is the same): only the prior's popularity part changes."""
        out = copy.copy(self)
        out.popular_repr = fit_popularity(self.scorer, item_idx, scores).astype(np.float32)
        out._evidence = out._click_evidence()
        return out

    def _click_evidence(self) -> np.ndarray:
        """What one click on each item counts: popular_quantile off -> 1; else (rank share / quantile)^2 in
        [floor, 1] (squared: a click on the very top of the list, the sign-up page, counts far less)."""
        q, n = self.config.popular_quantile, self.scorer.n_items
        if q <= 0 or self.scorer.d_dot == 0:
            return np.ones(n)
        popularity = self.scorer.item_bias + self.scorer.item_dot @ self.popular_repr
        rank = np.empty(n)
        rank[np.argsort(-popularity, kind="stable")] = np.arange(n)
        return np.clip((rank / (q * n)) ** 2, MIN_EVIDENCE, 1.0)

    def _usable(
        self, item_idx: Sequence[int] | np.ndarray, events: Sequence[str] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Known items of the most recent max_clicks clicks (oldest first), with their event weights."""
        idx = np.asarray(item_idx, dtype=np.int64).reshape(-1)
        weights = np.array([self.config.event_weights.get(e, 1.0) for e in events], np.float64) \
            if events is not None else np.ones(len(idx))  # fmt: skip
        if len(weights) != len(idx):
            raise ValueError(f"{len(idx)} clicks but {len(weights)} event types")
        known = (idx >= 0) & (idx < self.scorer.n_items)
        idx, weights = idx[known][-self.config.max_clicks :], weights[known][-self.config.max_clicks :]
        return idx, weights

    def user_repr(self, item_idx: Sequence[int] | np.ndarray, events: Sequence[str] | None = None,
                  user_idx: int | None = None, history_idx: Sequence[int] | np.ndarray = ()) -> np.ndarray | None:  # fmt: skip
        """A representation for FastScorer.score_vector, or None when no click is usable (caller: popularity).

        `item_idx`: fresh clicks as catalog indices, oldest first (-1 = movie unknown to the model, ignored);
        `user_idx`/`history_idx`: a known user's row and training items. With `known_scale` > 0 the row is kept and
        the clicks' solve added to it (history unused: cheap); with 0 the row is re-solved from history + clicks.
        """
        idx, weights = self._usable(item_idx, events)
        if len(idx) == 0:
            return None
        prior = self._prior if user_idx is None else self.scorer.user_repr(user_idx).astype(np.float32)
        if self.config.method == "softmax":
            return self._softmax_steps(prior, idx, weights)
        out, d = prior.copy(), self.scorer.d_dot
        if (
            user_idx is not None and self.config.known_scale > 0
        ):  # the trained row plus what the fresh clicks add
            out[:d] += self.config.known_scale * self._solve(idx, weights)
            return out
        history = np.asarray(history_idx, dtype=np.int64)[: self.config.max_history]
        if len(history):
            idx = np.concatenate([history, idx])
            weights = np.concatenate([np.full(len(history), self.config.history_weight), weights])
        weights = weights * self._evidence[idx]
        c = self.config.shrinkage
        share = weights.sum() / (weights.sum() + c) if c > 0 else 1.0
        moved = share * self.config.scale * self._solve(idx, weights)
        out[:d] = (
            self.popular_repr + moved
            if self.config.combine == "offset"
            else moved + (1.0 - share) * self.popular_repr
        )
        return out

    def _solve(self, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The ridge projection or the weighted mean over the distinct clicked items (repeated clicks add up)."""
        items, inverse = np.unique(idx, return_inverse=True)
        w = np.bincount(inverse, weights=weights)
        return self._ridge(items, w) if self.config.method == "ridge" else self._mean(items, w)

    def _ridge(self, items: np.ndarray, w: np.ndarray) -> np.ndarray:
        q = self.scorer.item_dot[items].astype(np.float64)
        a = self.config.unobserved_weight * self._gram + (q.T * w) @ q
        a[np.diag_indices_from(a)] += self.config.ridge_lambda
        return np.linalg.solve(a, q.T @ w).astype(np.float32)

    def _mean(self, items: np.ndarray, w: np.ndarray) -> np.ndarray:
        return (w @ self.scorer.item_dot[items] / w.sum()).astype(np.float32)

    def _softmax_steps(self, prior: np.ndarray, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Gradient descent on mean weighted -log softmax(click) + prior_l2/2 |r - prior|^2 over the user row."""
        s, cfg, d = self.scorer, self.config, self.scorer.d_dot
        target = np.bincount(idx, weights=weights, minlength=s.n_items) / weights.sum()
        r = prior.astype(np.float32).copy()
        for _ in range(cfg.steps):
            layers = s.mlp_forward(r[d:]) if s.has_mlp else []
            logits = s.item_bias + s.item_dot @ r[:d]
            if s.has_mlp:
                logits = logits + layers[-1] @ s.mlp_out
            p = np.exp(logits - logits.max())
            g = (p / p.sum() - target).astype(np.float32)  # d loss / d logit, per item
            grad = np.empty_like(r)
            grad[:d] = g @ s.item_dot
            if s.has_mlp:
                grad[d:] = _mlp_user_gradient(s, layers, g)
            r -= cfg.learning_rate * (grad + cfg.prior_l2 * (r - prior))
        return r


def fit_popularity(scorer: FastScorer, item_idx: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The dot-part vector p whose scores `item_bias + item_dot @ p` best rank like `scores` (e.g. the damped
    popularity of cold start): scores ~ a * item_bias + item_dot @ p' + c by weighted least squares, weight
    1 / (rank + 50) (the top of the ranking is what a top-10 shows), with a light ridge on p' so that what the item
    bias explains stays with it (the bias lies almost in the item vectors' span); p = p' / a. Items without a score
    count as the least popular. Falls back to the average user when there is no ranking or a <= 0."""
    idx, scores = np.asarray(item_idx, np.int64), np.asarray(scores, np.float64)
    known = (idx >= 0) & (idx < scorer.n_items)
    if not known.any() or scorer.d_dot == 0:
        return scorer.mean_user_repr()[: scorer.d_dot]
    target = np.full(scorer.n_items, scores[known].min())
    target[idx[known]] = scores[known]
    rank = np.empty(scorer.n_items)
    rank[np.argsort(-target, kind="stable")] = np.arange(scorer.n_items)
    w = 1.0 / (rank + 50.0)
    x = np.column_stack([scorer.item_bias, scorer.item_dot, np.ones(scorer.n_items)]).astype(np.float64)
    a = (x.T * w) @ x
    ridge = 1e-3 * np.trace(a[1:-1, 1:-1]) / scorer.d_dot
    a[np.arange(1, scorer.d_dot + 1), np.arange(1, scorer.d_dot + 1)] += ridge
    coef = np.linalg.solve(a, (x.T * w) @ target)
    if coef[0] <= 1e-6:
        return scorer.mean_user_repr()[: scorer.d_dot]
    return (coef[1:-1] / coef[0]).astype(np.float32)


def _mlp_user_gradient(s: FastScorer, layers: list[np.ndarray], g: np.ndarray) -> np.ndarray:
    """Backpropagate d loss / d logit (per item) through the relu tower to the user's MLP row."""
    grad_h = g[:, None] * s.mlp_out[None, :]
    for (w, _), h in zip(reversed(s.hidden), reversed(layers[1:]), strict=True):
        grad_h = (grad_h * (h > 0)) @ w.T
    return s.first_user_w @ (grad_h * (layers[0] > 0)).sum(axis=0)
