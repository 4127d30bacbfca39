"""Id maps, implicit conversion, both split protocols, negative sampling."""

import numpy as np
import pandas as pd
import pytest

from pipelines.features import (
    IdMaps,
    NegativeSampler,
    full_ranking_split,
    leave_one_out_split,
    sample_negatives,
    to_implicit,
)


@pytest.fixture
def interactions():
    rng = np.random.default_rng(0)
    rows = [
        (u, i, int(rng.integers(1, 10_000)))
        for u in range(1, 21)
        for i in rng.choice(np.arange(100, 160), 12, replace=False)
    ]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(rating=4.0)
    return to_implicit(df)


def test_id_maps_round_trip(tmp_path, interactions):
    maps = IdMaps.fit(interactions)
    assert maps.n_users == 20 and maps.n_items == interactions.item_id.nunique()
    enc = maps.encode(interactions)
    assert enc.user_idx.between(0, maps.n_users - 1).all()
    assert (maps.item_ids[enc.item_idx] == enc.item_id).all()
    assert maps.user_index(np.array([999]))[0] == -1
    maps.save(tmp_path / "m.json")
    assert (IdMaps.load(tmp_path / "m.json").item_ids == maps.item_ids).all()


def test_to_implicit_merges_feedback_and_dedupes():
    ratings = pd.DataFrame(
        {"user_id": [1, 1], "item_id": [5, 5], "rating": [3.0, 4.0], "timestamp": [10, 20]}
    )
    feedback = pd.DataFrame({"user_id": [1, 2], "movie_id": [6, 5], "ts": [30_000, 40_000]})
    out = to_implicit(ratings, feedback)
    assert sorted(map(tuple, out[["user_id", "item_id", "timestamp"]].to_numpy().tolist())) == [
        (1, 5, 20),
        (1, 6, 30),
        (2, 5, 40),
    ]


def test_leave_one_out_holds_out_latest_and_samples_unseen(interactions):
    maps = IdMaps.fit(interactions)
    enc = maps.encode(interactions)
    split = leave_one_out_split(enc, maps.n_items, num_negatives=20, seed=1)
    assert len(split.test) == 20 and split.test_negatives.shape == (20, 20)
    latest = enc.sort_values("timestamp").groupby("user_idx").tail(1).set_index("user_idx").item_idx
    assert (split.test.set_index("user_idx").item_idx.sort_index() == latest.sort_index()).all()
    seen = set(zip(enc.user_idx, enc.item_idx, strict=False))
    assert not any(
        (u, i) in seen for u, row in zip(split.test.user_idx, split.test_negatives, strict=False) for i in row
    )
    again = leave_one_out_split(enc, maps.n_items, num_negatives=20, seed=1)
    assert (again.test_negatives == split.test_negatives).all()  # fixed seed


def test_full_ranking_split_is_per_user_75_25(interactions):
    maps = IdMaps.fit(interactions)
    split = full_ranking_split(maps.encode(interactions), 0.75, seed=3)
    per_user_train = split.train.groupby("user_idx").size()
    assert (per_user_train == 9).all()  # 12 per user -> 9 train
    assert set(split.test.item_idx) <= set(split.train.item_idx)
    assert not set(zip(split.train.user_idx, split.train.item_idx, strict=False)) & set(
        zip(split.test.user_idx, split.test.item_idx, strict=False)
    )


def test_negative_sampler_resamples_each_epoch(interactions):
    maps = IdMaps.fit(interactions)
    train = maps.encode(interactions)
    sampler = NegativeSampler(train, maps.n_items, num_negatives=4, seed=0)
    (x1, y1), (x2, _) = sampler.epoch(), sampler.epoch()
    assert len(y1) == 5 * len(train) and y1.sum() == len(train)
    positives = set(zip(train.user_idx, train.item_idx, strict=False))
    negatives = [(u, i) for u, i, y in zip(x1["user"], x1["item"], y1, strict=False) if y == 0]
    assert not any(pair in positives for pair in negatives)
    assert not np.array_equal(np.sort(x1["item"]), np.sort(x2["item"]))


def test_sampler_handles_dense_users():
    keys = np.array([0 * 10 + i for i in range(9)])  # user 0 saw 9 of 10 items
    out = sample_negatives(np.random.default_rng(0), np.array([0]), keys, 10, 5)
    assert (out == 9).all()


def test_temporal_split_holds_out_each_users_latest_interactions(interactions):
    maps = IdMaps.fit(interactions)
    encoded = maps.encode(interactions)
    split = full_ranking_split(encoded, 0.75, seed=1, by_time=True)
    assert split.protocol == "temporal"
    for user, test in split.test.groupby("user_idx"):
        train = split.train[split.train.user_idx == user]
        assert train.timestamp.max() <= test.timestamp.min()
