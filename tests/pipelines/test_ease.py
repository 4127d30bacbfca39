"""EASE's closed form, its memory guard, and the recommenders benchmark split reproduced row for row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.ease import Ease, ModelTooLargeError, check_memory
from pipelines.protocols import ranking_metrics, recommenders_item_split


def test_ease_matches_the_closed_form():
    train = pd.DataFrame({"user_idx": [0, 0, 1, 1, 2, 2, 2], "item_idx": [0, 1, 1, 2, 0, 2, 3]})
    model = Ease.fit(train, n_users=3, n_items=4, l2=1.0)
    x = np.zeros((3, 4))
    x[train.user_idx, train.item_idx] = 1
    p = np.linalg.inv(x.T @ x + np.eye(4))
    expected = np.eye(4) - p / np.diag(p)
    assert np.allclose(model.weights, expected, atol=1e-6)
    assert np.allclose(np.diag(model.weights), 0)
    users, items = np.array([0, 2]), np.array([3, 1])
    assert np.allclose(model.score(users, items), model.score_users(users)[[0, 1], items], atol=1e-6)


def test_memory_guard_refuses_before_allocating():
    with pytest.raises(ModelTooLargeError, match="catalog\\^2"):
        check_memory(60_000, limit_gb=4.0)
    check_memory(2_000, limit_gb=4.0)


def test_split_is_their_stratified_splitter():
    ratings = pd.DataFrame({"user_id": [1, 2, 3, 4, 1, 2, 3, 4, 5], "item_id": [10, 10, 10, 10, 20, 20, 20, 20, 20],
                            "rating": 4.0, "timestamp": range(9)})  # fmt: skip
    train, test = recommenders_item_split(ratings, 0.75, seed=42)
    # their code: np.random.seed(42); one draw per row; sort by (item, draw); rank/count <= 0.75 -> train
    np.random.seed(42)
    draws = np.random.rand(len(ratings))
    expected_train = []
    for _, group in ratings.assign(r=draws).groupby("item_id"):
        ordered = group.sort_values("r")
        keep = np.arange(1, len(ordered) + 1) / len(ordered) <= 0.75
        expected_train += ordered.index[keep].tolist()
    assert sorted(train.index) == sorted(expected_train)
    assert len(train) + len(test) == len(ratings) and not set(train.index) & set(test.index)


def test_unknown_test_items_count_as_misses():
    test = pd.DataFrame({"user_id": [1, 1], "item_id": [7, 99]})
    out = ranking_metrics(test, [1], [[7, 8]], k=2)
    assert out["recall_at_2"] == 0.5 and out["precision_at_2"] == 0.5
