"""The matrix-product softmax step of MF makes the generic pair-by-pair step's updates (same Adam moments); the
sampled step (above a catalog size) estimates the same loss and trains."""

import numpy as np
import pytest

import pipelines.train as train
from pipelines.data import load_movielens
from pipelines.fast_scoring import FastScorer
from pipelines.features import IdMaps, full_ranking_split, to_implicit
from tests.helpers import FIXTURE_DATA_ROOT


@pytest.mark.slow  # trains two models
def test_matmul_step_reproduces_the_generic_step(settings, monkeypatch):
    interactions = to_implicit(load_movielens(FIXTURE_DATA_ROOT, "ml-latest-small").ratings)
    maps = IdMaps.fit(interactions)
    split = full_ranking_split(maps.encode(interactions), seed=7, by_time=True)
    cfg = settings.model_copy(update={"model_type": "mf", "loss": "softmax", "epochs": 3, "eval_every": 100,
                                      "embedding_dim": 16, "users_per_batch": 32})  # fmt: skip
    runs = {}
    for path in ("matmul", "generic"):
        if path == "generic":
            monkeypatch.setattr(train, "is_plain_mf", lambda model: False)
        result = train.train_model(split, maps.n_users, maps.n_items, cfg)
        runs[path] = ([h["loss"] for h in result.history], FastScorer.from_keras(result.model))
    np.testing.assert_allclose(runs["matmul"][0], runs["generic"][0], rtol=1e-5)
    a, b = runs["matmul"][1], runs["generic"][1]
    assert runs["matmul"][0][-1] < runs["matmul"][0][0]  # it trains
    np.testing.assert_allclose(a.item_dot, b.item_dot, atol=1e-4)
    np.testing.assert_allclose(a.user_dot, b.user_dot, atol=1e-4)
    np.testing.assert_allclose(a.item_bias, b.item_bias, atol=1e-4)


def test_shared_negatives_estimate_the_normaliser():
    """sum_j exp(s_j + w_j) over the shared negatives is an unbiased estimate of Z = sum over the catalog."""
    from pipelines.softmax_mf import SharedNegatives

    rng = np.random.default_rng(0)
    counts = rng.zipf(1.6, 3_000).clip(0, 10_000)
    scores = 0.5 * np.log1p(counts) + rng.normal(
        0, 0.5, len(counts)
    )  # popular items score higher, as trained
    sampler = SharedNegatives(counts, size=256, seed=1)
    estimates = []
    for _ in range(400):
        items, log_w = sampler.draw()
        estimates.append(np.exp(scores[items] + log_w).sum())
    exact = np.exp(scores).sum()
    assert abs(np.mean(estimates) / exact - 1) < 0.02
    assert np.all(sampler.q[np.argsort(counts)][:: len(counts) - 1] > 0)  # the rarest item keeps support


def test_batch_pairs_lists_each_users_positives():
    indptr = np.array([0, 2, 2, 5, 6])  # user 1 has no positives
    items = np.array([7, 8, 1, 2, 3, 9], dtype=np.int32)
    rows, pair_items = train.batch_pairs(np.array([3, 0, 2]), indptr, items)
    assert rows.tolist() == [0, 1, 1, 2, 2, 2]
    assert pair_items.tolist() == [9, 7, 8, 1, 2, 3]


def test_sampled_softmax_only_above_the_threshold(settings):
    cfg = settings.model_copy(update={"loss": "softmax", "softmax_sample_above_items": 1000})
    assert not train.uses_sampled_softmax(cfg, 1000)
    assert train.uses_sampled_softmax(cfg, 1001)
    assert not train.uses_sampled_softmax(cfg.model_copy(update={"softmax_sample_above_items": None}), 10**6)
    assert not train.uses_sampled_softmax(cfg.model_copy(update={"loss": "bpr"}), 10**6)


@pytest.mark.slow
def test_sampled_step_trains_like_the_exact_one(settings):
    """Forced on ml-latest-small: the sampled step lowers the exact loss and ranks held-out items far above
    popularity, close to the exact step (the benchmark, benchmarks/sampled_softmax.py, measures the gap)."""
    from pipelines.evaluate import EvalOptions, evaluate

    interactions = to_implicit(load_movielens(FIXTURE_DATA_ROOT, "ml-latest-small").ratings)
    maps = IdMaps.fit(interactions)
    split = full_ranking_split(maps.encode(interactions), seed=7, by_time=True)
    base = {"model_type": "mf", "loss": "softmax", "epochs": 8, "eval_every": 100, "embedding_dim": 16,
            "softmax_negatives": 256, "sampled_users_per_batch": 32}  # fmt: skip
    ndcg = {}
    for name, threshold in (("sampled", 1), ("exact", None)):
        cfg = settings.model_copy(update={**base, "softmax_sample_above_items": threshold})
        result = train.train_model(split, maps.n_users, maps.n_items, cfg)
        assert result.history[-1]["loss"] < result.history[0]["loss"]
        options = EvalOptions()
        ndcg[name] = evaluate(
            train.numpy_scorer(result.model), split, maps.n_users, maps.n_items, 10, options
        )["ndcg_at_10"]
    popularity = evaluate(train.popularity_scorer(split, maps.n_items), split, maps.n_users, maps.n_items)
    assert ndcg["sampled"] > popularity["ndcg_at_10"]
    assert ndcg["sampled"] > 0.7 * ndcg["exact"]
