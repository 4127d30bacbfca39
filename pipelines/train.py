"""Training loop: loss bce (sampled negatives, resampled every epoch), softmax (whole catalog) or bpr (pairwise);
per-epoch loss and held-out metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.content import ContentInputs
from pipelines.evaluate import EvalOptions, evaluate
from pipelines.fast_scoring import FastScorer
from pipelines.features import NegativeSampler, Split
from pipelines.models import PopularityScorer, build_model, load_pretrained_neumf
from pipelines.scoring import FastPairScorer
from pipelines.settings import Settings
from pipelines.softmax_mf import SharedNegatives, is_plain_mf, matmul_softmax_step, sampled_softmax_step

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model: Any  # a compiled keras.Model (keras is imported lazily)
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0


def _fit(model, split: Split, n_items: int, cfg: Settings, epochs: int,
         on_epoch: Callable[[int, dict], None] | None, n_users: int) -> list[dict[str, float]]:  # fmt: skip
    """Train `epochs` epochs with cfg.loss; held-out metrics every cfg.eval_every epochs and after the last."""
    epoch_runner = {"bce": _bce_epochs, "softmax": _softmax_epochs, "bpr": _bpr_epochs}[cfg.loss]
    run_epoch = epoch_runner(model, split, n_items, cfg)
    history = []
    for epoch in range(epochs):
        start = time.perf_counter()
        row = {"loss": run_epoch(), "epoch_seconds": time.perf_counter() - start}
        if len(split.test) and ((epoch + 1) % cfg.eval_every == 0 or epoch == epochs - 1):
            # the training curve: a seeded user sample keeps each epoch's check bounded at any data size
            curve = EvalOptions(max_users=cfg.curve_eval_users, seed=cfg.seed)
            row.update(evaluate(numpy_scorer(model), split, n_users, n_items, cfg.top_k, curve))
        history.append(row)
        log.info("%s epoch %d/%d: %s", model.name, epoch + 1, epochs,
                 ", ".join(f"{k}={v:.4f}" for k, v in row.items()))  # fmt: skip
        if on_epoch:
            on_epoch(epoch, row)
    return history


def numpy_scorer(model) -> FastPairScorer:
    """The model's scores in NumPy (pipelines.fast_scoring; equal to Keras' to float32 precision): whole catalog
    rows as matrix products, so evaluating at ml-25m size costs seconds, not a Keras call per pair."""
    return FastPairScorer(FastScorer.from_keras(model))


def _bce_epochs(model, split: Split, n_items: int, cfg: Settings) -> Callable[[], float]:
    """Pointwise binary cross-entropy (He et al. 2017): each positive + num_negatives fresh negatives per epoch."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="binary_crossentropy")
    sampler = NegativeSampler(split.train, n_items, cfg.num_negatives, cfg.seed)

    def run() -> float:
        x, y = sampler.epoch()
        fit = model.fit(x, y, batch_size=cfg.batch_size, epochs=1, shuffle=False, verbose=0)
        return float(fit.history["loss"][-1])

    return run


def _embedding_tables(model) -> tuple[list, list]:
    """(user tables, item tables) of the model's embedding layers, biases excluded."""
    import keras

    layers = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Embedding) and layer.trainable and "bias" not in layer.name
    ]
    return ([layer.embeddings for layer in layers if "user" in layer.name],
            [layer.embeddings for layer in layers if "item" in layer.name])  # fmt: skip


def _rows_l2(tables: list, rows) -> object:
    """Mean squared norm of the looked-up rows, summed over tables (regularises only what the batch touched)."""
    import tensorflow as tf

    return tf.add_n([tf.reduce_mean(tf.reduce_sum(tf.square(tf.gather(t, rows)), axis=1)) for t in tables])


def _ranking_step(model, cfg: Settings, loss_and_penalty: Callable[..., tuple]):
    """A compiled Adam step minimising loss + cfg.ranking_l2 * penalty, as returned by loss_and_penalty(*batch)."""
    import keras
    import tensorflow as tf

    optimizer = keras.optimizers.Adam(cfg.learning_rate)
    optimizer.build(model.trainable_variables)

    @tf.function(reduce_retracing=True)
    def step(*batch):
        with tf.GradientTape() as tape:
            loss, penalty = loss_and_penalty(*batch)
            total = loss + cfg.ranking_l2 * penalty
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=False))
        return loss

    return step


def _softmax_epochs(model, split: Split, n_items: int, cfg: Settings) -> Callable[[], float]:
    """Softmax cross-entropy over the whole catalog: -log p(item | user), p = softmax of the user's scores.

    A step takes `users_per_batch` users and scores each against every item, so the loss of all their
    positives costs one pass over users x catalog (no negative sampling); an epoch visits every user once.
    Plain MF above cfg.softmax_sample_above_items items estimates the normaliser from shared sampled negatives
    instead (pipelines.softmax_mf): the exact pass would cost hours per run at ml-25m size.
    """
    import tensorflow as tf

    users = np.sort(split.train.user_idx.unique()).astype(np.int32)
    by_user = split.train.sort_values("user_idx")
    indptr = np.zeros(int(users.max()) + 2, dtype=np.int64)
    np.add.at(indptr, by_user.user_idx.to_numpy() + 1, 1)
    indptr = np.cumsum(indptr)
    items = by_user.item_idx.to_numpy(np.int64)
    rng = np.random.default_rng(cfg.seed)
    if is_plain_mf(model) and uses_sampled_softmax(cfg, n_items):
        return _sampled_softmax_epochs(model, split, n_items, cfg, users, indptr, items.astype(np.int32), rng)
    user_tables, item_tables = _embedding_tables(model)

    def loss_and_penalty(batch_users, labels):
        b = tf.shape(batch_users)[0]
        scores = model({"user": tf.repeat(batch_users, n_items), "item": tf.tile(tf.range(n_items), [b])},
                       training=True)  # fmt: skip
        log_p = tf.nn.log_softmax(tf.reshape(scores, (b, n_items)))
        loss = -tf.reduce_sum(labels * log_p) / tf.reduce_sum(labels)
        return loss, _rows_l2(user_tables, batch_users) + _rows_l2(item_tables, tf.range(n_items))

    if is_plain_mf(model):  # the same update as matrix products (pipelines.softmax_mf)
        step = matmul_softmax_step(model, cfg.learning_rate, cfg.ranking_l2)
    else:
        step = _ranking_step(model, cfg, loss_and_penalty)

    def run() -> float:
        order = rng.permutation(users)
        losses, weights = [], []
        for start in range(0, len(order), cfg.users_per_batch):
            batch = order[start : start + cfg.users_per_batch]
            labels = np.zeros((len(batch), n_items), dtype=np.float32)
            for row, u in enumerate(batch):
                labels[row, items[indptr[u] : indptr[u + 1]]] = 1.0
            losses.append(float(step(tf.constant(batch), tf.constant(labels))))
            weights.append(labels.sum())
        return float(np.average(losses, weights=weights))

    return run


def uses_sampled_softmax(cfg: Settings, n_items: int) -> bool:
    """True when loss=softmax estimates the normaliser from sampled negatives for this catalog size."""
    threshold = cfg.softmax_sample_above_items
    return cfg.loss == "softmax" and threshold is not None and n_items > threshold


def batch_pairs(batch: np.ndarray, indptr: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row in batch, item) of every training positive of the batch's users, from the CSR arrays."""
    starts, lengths = indptr[batch], indptr[batch + 1] - indptr[batch]
    rows = np.repeat(np.arange(len(batch), dtype=np.int32), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return rows, items[np.repeat(starts, lengths) + offsets]


def _sampled_softmax_epochs(model, split: Split, n_items: int, cfg: Settings, users: np.ndarray,
                            indptr: np.ndarray, items: np.ndarray, rng: np.random.Generator) -> Callable[[], float]:  # fmt: skip
    """The softmax loss with Z estimated from cfg.softmax_negatives negatives shared per step (log-Q corrected)."""
    import tensorflow as tf

    step = sampled_softmax_step(model, cfg.learning_rate, cfg.ranking_l2)
    negatives = SharedNegatives(np.bincount(items, minlength=n_items), cfg.softmax_negatives, cfg.seed)
    per_batch = cfg.sampled_users_per_batch

    def run() -> float:
        order = rng.permutation(users)
        losses, weights = [], []
        for start in range(0, len(order), per_batch):
            batch = order[start : start + per_batch]
            rows, pair_items = batch_pairs(batch, indptr, items)
            neg, log_w = negatives.draw()
            loss = step(tf.constant(batch), tf.constant(rows), tf.constant(pair_items), tf.constant(neg),
                        tf.constant(log_w))  # fmt: skip
            losses.append(float(loss))
            weights.append(len(rows))
        return float(np.average(losses, weights=weights))

    return run


def _bpr_epochs(model, split: Split, n_items: int, cfg: Settings) -> Callable[[], float]:
    """Pairwise BPR (Rendle et al. 2009): -log sigmoid(s(u, i) - s(u, j)), j one of num_negatives unseen items."""
    import tensorflow as tf

    sampler = NegativeSampler(split.train, n_items, cfg.num_negatives, cfg.seed)
    user_tables, item_tables = _embedding_tables(model)

    def loss_and_penalty(u, i, j):
        diff = model({"user": u, "item": i}, training=True) - model({"user": u, "item": j}, training=True)
        loss = -tf.reduce_mean(tf.math.log_sigmoid(diff))
        return loss, _rows_l2(user_tables, u) + _rows_l2(item_tables, i) + _rows_l2(item_tables, j)

    step = _ranking_step(model, cfg, loss_and_penalty)

    def run() -> float:
        u, i, j = sampler.pairs()
        losses = [float(step(tf.constant(u[s:s + cfg.batch_size]), tf.constant(i[s:s + cfg.batch_size]),
                             tf.constant(j[s:s + cfg.batch_size])))
                  for s in range(0, len(u), cfg.batch_size)]  # fmt: skip
        return float(np.mean(losses))

    return run


def train_model(split: Split, n_users: int, n_items: int, cfg: Settings,
                on_epoch: Callable[[int, dict], None] | None = None, pretrain: bool = False,
                content: ContentInputs | None = None) -> TrainResult:  # fmt: skip
    """Build and train cfg.model_type; NeuMF optionally pre-trained from GMF and MLP (He et al. 2017);
    `content`: the side inputs of a content-aware model type."""
    import keras

    keras.utils.set_random_seed(cfg.seed)
    started = time.perf_counter()
    # bce: Keras L2 on whole tables, sigmoid output. Ranking losses: L2 on the looked-up rows only (in the step),
    # logit output, and a per-item bias (popularity; a per-user bias would cancel out of a per-user softmax)
    output, l2, bias = ("sigmoid", cfg.l2, False) if cfg.loss == "bce" else ("logit", 0.0, True)
    model = build_model(cfg.model_type, n_users, n_items, cfg.embedding_dim, cfg.mlp_layers, l2, output, bias,
                        content, cfg.content_id_dropout)  # fmt: skip
    if pretrain and cfg.model_type == "neumf":
        parts = {}
        for kind in ("gmf", "mlp"):
            parts[kind] = build_model(
                kind, n_users, n_items, cfg.embedding_dim, cfg.mlp_layers, l2, output, bias
            )
            _fit(parts[kind], split, n_items, cfg, cfg.epochs, None, n_users)
        load_pretrained_neumf(model, parts["gmf"], parts["mlp"])
    history = _fit(model, split, n_items, cfg, cfg.epochs, on_epoch, n_users)
    return TrainResult(model, history, time.perf_counter() - started)


def popularity_scorer(split: Split, n_items: int) -> PopularityScorer:
    return PopularityScorer(np.bincount(split.train.item_idx.to_numpy(), minlength=n_items))
