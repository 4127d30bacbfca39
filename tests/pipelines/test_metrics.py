"""Metrics against hand-computed cases."""

import math

import numpy as np
import pytest

from pipelines import metrics


def test_sampled_metrics():
    ranks = np.array([0, 3, 10, 50])
    assert metrics.hit_rate_at_k(ranks, 10) == 0.5
    assert metrics.sampled_ndcg_at_k(ranks, 10) == pytest.approx((1.0 + 1 / math.log2(5)) / 4)


REL = [{1, 2, 3}, {9}]
REC = [[1, 5, 2, 7], [4, 6, 8, 9]]


def test_precision_recall():
    assert metrics.precision_at_k(REL, REC, 2) == pytest.approx((1 / 2 + 0) / 2)
    assert metrics.recall_at_k(REL, REC, 4) == pytest.approx((2 / 3 + 1) / 2)


def test_ndcg_full_ranking():
    d = [1 / math.log2(i + 2) for i in range(4)]
    user1 = (d[0] + d[2]) / (d[0] + d[1] + d[2])
    user2 = d[3] / d[0]
    assert metrics.ndcg_at_k(REL, REC, 4) == pytest.approx((user1 + user2) / 2)
    assert metrics.ndcg_at_k([{1}], [[1, 2]], 2) == 1.0


def test_map():
    user1 = (1 / 1 + 2 / 3) / 3
    user2 = (1 / 4) / 1
    assert metrics.map_at_k(REL, REC, 4) == pytest.approx((user1 + user2) / 2)


def test_coverage_and_empty():
    assert metrics.catalog_coverage(REC, 10, 2) == pytest.approx(4 / 10)
    assert metrics.recall_at_k([set()], [[1]], 1) == 0.0
    assert metrics.hit_rate_at_k(np.array([]), 10) == 0.0
