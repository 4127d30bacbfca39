"""The matrix-product softmax step of MF makes the generic pair-by-pair step's updates (same Adam moments)."""

import numpy as np
import pytest

import pipelines.train as train
from pipelines.data import load_movielens
from pipelines.fast_scoring import FastScorer
from pipelines.features import IdMaps, full_ranking_split, to_implicit
from tests.helpers import FIXTURE_DATA_ROOT

pytestmark = pytest.mark.slow  # trains two models


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
