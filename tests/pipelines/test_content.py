"""Content features, catalog additions and the new-item protocol: the plain parts (no training)."""

import numpy as np
import pandas as pd
import pytest

from pipelines.catalog import append_addition, check_new_movie, read_additions, with_additions
from pipelines.content import (
    InvalidMovie,
    ItemFeatureSpec,
    build_content_inputs,
    demographics,
    genre_profile,
)
from pipelines.fast_scoring import FastScorer
from pipelines.features import IdMaps
from pipelines.new_items import evaluate_new_items, genre_popularity_scores, hold_out_movies

MOVIES = pd.DataFrame({
    "item_id": [1, 2, 3, 4],
    "title": ["A", "B", "C", "D"],
    "genres": ["Action|Sci-Fi", "Romance", "(no genres listed)", "Drama|Romance"],
    "year": pd.array([1977, 1995, None, 2021], dtype="Int64"),
})  # fmt: skip


def test_item_features_are_multi_hot_genres_year_bucket_and_a_constant():
    spec = ItemFeatureSpec.fit(MOVIES)
    assert spec.genres == ("Action", "Drama", "Romance", "Sci-Fi")  # the no-genre marker is not a genre
    x = spec.encode(MOVIES)
    assert x.shape == (4, spec.n_features) == (4, len(spec.names))
    names = spec.names
    row = dict(zip(names, x[0], strict=True))
    assert row["genre=Action"] == row["genre=Sci-Fi"] == 1 and row["genre=Romance"] == 0
    assert row["year1970-1979"] == 1 and row["any_movie"] == 1
    assert dict(zip(names, x[2], strict=True))["year_unknown"] == 1 and x[2, :4].sum() == 0
    assert dict(zip(names, x[3], strict=True))["year>=2020"] == 1
    assert (x[:, len(spec.genres) : -1].sum(axis=1) == 1).all()  # exactly one year bucket per movie


def test_spec_round_trips_through_the_bundle_folder(tmp_path):
    spec = ItemFeatureSpec.fit(MOVIES)
    spec.save(tmp_path)
    assert ItemFeatureSpec.load(tmp_path) == spec
    assert ItemFeatureSpec.load(tmp_path / "nothing-here") is None


def test_user_features_genre_profile_from_training_and_demographics():
    maps = IdMaps(np.array([10, 20, 30]), np.array([1, 2, 3, 4]))
    train = pd.DataFrame({"user_idx": [0, 0, 1], "item_idx": [0, 1, 3]})
    users = pd.DataFrame(
        {"user_id": [10, 20], "age": [24, 60], "gender": ["M", "F"], "occupation": ["writer", "other"]}
    )
    inputs = build_content_inputs(MOVIES, maps.item_ids, maps.user_ids, train, users)
    profile = inputs.user_features[:, : len(inputs.spec.genres)]
    # user 10: Action|Sci-Fi + Romance -> half of their positives each; user 30 has no training rows
    np.testing.assert_allclose(profile[0], [0.5, 0.0, 0.5, 0.5])
    np.testing.assert_allclose(profile[2], 0.0)
    demo = demographics(users, maps.user_ids, ("other", "writer"))
    assert demo[0].sum() == demo[1].sum() == 3 and demo[2].sum() == 0  # age group + gender + occupation
    assert len(inputs.user_feature_names) == inputs.user_features.shape[1]
    assert genre_profile(train, inputs.item_features, 4, 3).shape == (3, 4)


def test_new_movie_records_are_checked_field_by_field():
    genres = ["Action", "Sci-Fi"]
    ok = check_new_movie(7, " New ", ["sci-fi"], 2024, genres, {1, 2})
    assert ok.title == "New" and ok.genres == ["Sci-Fi"]
    for args, message in [
        ((1, "x", ["Action"], 2000), "already in the catalog"),
        ((7, "x", ["Western"], 2000), "unknown genres"),
        ((7, "x", [], 2000), "at least one genre"),
        ((7, "x", ["Action"], None), "year is required"),
        ((7, "x", ["Action"], 1500), "year must be between"),
        ((7, " ", ["Action"], 2000), "title"),
    ]:
        with pytest.raises(InvalidMovie, match=message):
            check_new_movie(*args, genres, {1, 2})


def test_additions_file_round_trip_and_merge(tmp_path):
    path = tmp_path / "catalog" / "added.jsonl"
    assert read_additions(path).empty and with_additions(MOVIES, read_additions(path)) is MOVIES
    append_addition(path, check_new_movie(9, "Nine", ["Drama"], 2024, ["Drama"], set()))
    append_addition(path, check_new_movie(1, "dup of a dataset movie", ["Drama"], 2024, ["Drama"], set()))
    added = read_additions(path)
    assert added.item_id.tolist() == [9, 1] and added.genres.tolist() == ["Drama", "Drama"]
    merged = with_additions(MOVIES, added)
    assert merged.item_id.tolist() == [1, 2, 3, 4, 9] and list(merged.columns) == list(MOVIES.columns)


def _content_scorer(n_items=3, d=2, f=4, seed=0) -> FastScorer:
    rng = np.random.default_rng(seed)
    return FastScorer(output="logit", item_dot=rng.normal(size=(n_items, d)).astype(np.float32),
                      user_dot=rng.normal(size=(2, d)).astype(np.float32), item_bias=np.zeros(n_items, np.float32),
                      user_bias=np.zeros(2, np.float32), item_first=np.zeros((n_items, 0), np.float32),
                      first_user_w=np.zeros((0, 0), np.float32), user_mlp=np.zeros((2, 0), np.float32),
                      content_w=rng.normal(size=(f, d)).astype(np.float32),
                      content_b=rng.normal(size=f).astype(np.float32))  # fmt: skip


def test_new_items_get_rows_from_content_alone_and_survive_save_load(tmp_path):
    fast = _content_scorer()
    features = np.eye(4, dtype=np.float32)[:2]
    grown = fast.with_new_items(features)
    assert grown.n_items == 5
    np.testing.assert_allclose(
        grown.score_user(0)[3:], fast.content_w[:2] @ fast.user_dot[0] + fast.content_b[:2]
    )
    np.testing.assert_allclose(grown.score_user(0)[:3], fast.score_user(0))
    order = np.array([4, 0, 1, 2, 3])
    np.testing.assert_allclose(grown.take_items(order).score_user(1), grown.score_user(1)[order])
    loaded = FastScorer.load(fast.save(tmp_path / "f.npz"))
    assert loaded.has_content and np.array_equal(loaded.content_w, fast.content_w)
    id_only = FastScorer.load(FastScorer(**{**fast.__dict__, "content_w": np.zeros((0, 0), np.float32),
                                            "content_b": np.zeros(0, np.float32)}).save(tmp_path / "g.npz"))  # fmt: skip
    with pytest.raises(ValueError, match="no content projection"):
        id_only.with_new_items(features)


def test_new_item_protocol_holds_movies_out_entirely_and_scores_only_them():
    rng = np.random.default_rng(0)
    interactions = pd.DataFrame({"user_id": rng.integers(1, 30, 600), "item_id": rng.integers(1, 5, 600),
                                 "timestamp": np.arange(600)}).drop_duplicates(["user_id", "item_id"])  # fmt: skip
    split = hold_out_movies(interactions, share=0.25, seed=1)
    assert len(split.held_out) == 1
    assert (
        not split.train.item_id.isin(split.held_out).any() and split.test.item_id.isin(split.held_out).all()
    )
    perfect = evaluate_new_items(lambda u: np.ones(1), split)
    assert perfect["recall_at_10"] == 1.0 and perfect["ndcg_at_10"] == 1.0
    skipped = evaluate_new_items(lambda u: None, split)
    assert skipped["users"] == 0 and skipped["users_skipped"] == split.test.user_id.nunique()
    scores = genre_popularity_scores(split.train, MOVIES, np.array([1, 2, 4]))
    assert scores.shape == (3,) and np.isfinite(scores).all()
