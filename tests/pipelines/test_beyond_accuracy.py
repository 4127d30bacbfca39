"""Beyond-accuracy metrics and the gate's guardrails against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipelines.beyond_accuracy import (
    genre_matrix,
    intra_list_diversity,
    item_popularity,
    novelty,
    popularity_bias,
)
from pipelines.metrics import mean_ci95, ndcg_per_user
from pipelines.promotion import guardrail_violations
from pipelines.settings import Settings

TRAIN = pd.DataFrame({"user_idx": [0, 0, 1, 1, 2, 3], "item_idx": [0, 1, 0, 2, 0, 0]})


def test_popularity_novelty_and_bias():
    pop = item_popularity(TRAIN, 4)
    assert pop.tolist() == [1.0, 0.25, 0.25, 0.0]
    assert popularity_bias([[0, 1]], pop, 2) == pytest.approx((1.0 + 0.25) / 2)
    assert novelty([[0, 1]], pop, 2) == pytest.approx((0.0 + 2.0) / 2)  # -log2(1), -log2(1/4)
    assert novelty([[3]], pop, 1) == pytest.approx(2.0)  # never seen in train: floored at the rarest item


def test_intra_list_diversity_by_genre():
    genres = genre_matrix(["Comedy", "Comedy", "Drama", "Comedy|Drama"])
    assert intra_list_diversity([[0, 1]], genres, 2) == pytest.approx(0.0)
    assert intra_list_diversity([[0, 2]], genres, 2) == pytest.approx(1.0)
    assert intra_list_diversity([[0, 3]], genres, 2) == pytest.approx(1 - 1 / math.sqrt(2))


def test_per_user_ndcg_and_its_confidence_interval():
    values = ndcg_per_user([{1}, {2}, set()], [[1, 3], [3, 2], [1]], 2)
    assert values.tolist() == pytest.approx([1.0, 1 / math.log2(3)])
    assert mean_ci95(np.array([0.5, 0.5, 0.5])) == 0.0
    assert math.isnan(mean_ci95(np.array([0.5])))


def test_guardrails_refuse_a_blockbuster_only_challenger():
    cfg = Settings(guardrail_min_coverage_ratio=0.5, guardrail_max_popularity_ratio=1.5)
    champion = {"coverage_at_10": 0.40, "popularity_bias_at_10": 0.10}
    assert guardrail_violations(cfg, {"coverage_at_10": 0.30, "popularity_bias_at_10": 0.12}, champion) == []
    narrow = guardrail_violations(cfg, {"coverage_at_10": 0.10, "popularity_bias_at_10": 0.30}, champion)
    assert len(narrow) == 2 and "coverage_at_10 0.1000 is below 0.5 x" in narrow[0]
    off = Settings(guardrail_min_coverage_ratio=None, guardrail_max_popularity_ratio=None)
    assert guardrail_violations(off, {"coverage_at_10": 0.0}, champion) == []
