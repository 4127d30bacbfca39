"""Training loop: negatives resampled every epoch, per-epoch loss and held-out metric."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pipelines.evaluate import evaluate
from pipelines.features import NegativeSampler, Split
from pipelines.models import KerasScorer, PopularityScorer, build_model, load_pretrained_neumf
from pipelines.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model: object
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0


def _fit(model, split: Split, n_items: int, cfg: Settings, epochs: int,
         on_epoch: Callable[[int, dict], None] | None, n_users: int) -> list[dict[str, float]]:  # fmt: skip
    import keras

    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="binary_crossentropy")
    sampler = NegativeSampler(split.train, n_items, cfg.num_negatives, cfg.seed)
    history = []
    for epoch in range(epochs):
        start = time.perf_counter()
        x, y = sampler.epoch()
        fit = model.fit(x, y, batch_size=cfg.batch_size, epochs=1, shuffle=False, verbose=0)
        row = {"loss": float(fit.history["loss"][-1]), "epoch_seconds": time.perf_counter() - start}
        row.update(evaluate(KerasScorer(model), split, n_users, n_items, cfg.top_k))
        history.append(row)
        log.info("%s epoch %d/%d: %s", model.name, epoch + 1, epochs,
                 ", ".join(f"{k}={v:.4f}" for k, v in row.items()))  # fmt: skip
        if on_epoch:
            on_epoch(epoch, row)
    return history


def train_model(split: Split, n_users: int, n_items: int, cfg: Settings,
                on_epoch: Callable[[int, dict], None] | None = None, pretrain: bool = False) -> TrainResult:  # fmt: skip
    """Build and train cfg.model_type; NeuMF optionally pre-trained from GMF and MLP (He et al. 2017)."""
    import keras

    keras.utils.set_random_seed(cfg.seed)
    started = time.perf_counter()
    model = build_model(cfg.model_type, n_users, n_items, cfg.embedding_dim, cfg.mlp_layers, cfg.l2)
    if pretrain and cfg.model_type == "neumf":
        parts = {}
        for kind in ("gmf", "mlp"):
            parts[kind] = build_model(kind, n_users, n_items, cfg.embedding_dim, cfg.mlp_layers, cfg.l2)
            _fit(parts[kind], split, n_items, cfg, cfg.epochs, None, n_users)
        load_pretrained_neumf(model, parts["gmf"], parts["mlp"])
    history = _fit(model, split, n_items, cfg, cfg.epochs, on_epoch, n_users)
    return TrainResult(model, history, time.perf_counter() - started)


def popularity_scorer(split: Split, n_items: int) -> PopularityScorer:
    return PopularityScorer(np.bincount(split.train.item_idx.to_numpy(), minlength=n_items))
