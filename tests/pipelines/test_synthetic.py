"""The synthetic generator: MovieLens's file format and shape, seeded, learnable, and refusing what cannot fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.data import load_movielens
from pipelines.synthetic import SyntheticSizeError, check_fits, generate, shape_for
from pipelines.validation import validate_movies, validate_ratings


def test_writes_ml25m_format_that_loads_and_validates(tmp_path):
    shape = generate(60_000, tmp_path / "synthetic-60k", seed=3)
    data = load_movielens(tmp_path, "synthetic-60k")
    assert len(data.ratings) == shape.ratings == 60_000
    assert data.ratings.groupby("user_id").size().min() >= 20
    assert not data.ratings.duplicated(["user_id", "item_id"]).any()  # drawn without replacement
    assert set(np.unique(data.ratings.rating)) <= {x / 2 for x in range(1, 11)}
    assert data.movies.year.notna().all() and data.movies.genres.str.len().gt(0).all()
    assert validate_ratings(data.ratings).success and validate_movies(data.movies).success


def test_seeded_and_power_law(tmp_path):
    generate(40_000, tmp_path / "a", seed=1)
    generate(40_000, tmp_path / "b", seed=1)
    assert (tmp_path / "a" / "ratings.csv").read_bytes() == (tmp_path / "b" / "ratings.csv").read_bytes()
    ratings = pd.read_csv(tmp_path / "a" / "ratings.csv")
    per_item = ratings.movieId.value_counts().to_numpy()
    assert per_item[: len(per_item) // 100 or 1].sum() > 0.05 * len(ratings)  # the top 1% of movies: a head
    per_user = ratings.userId.value_counts().to_numpy()
    assert per_user.max() > 5 * np.median(per_user)  # a long tail of heavy users


def test_25m_is_shaped_like_ml25m():
    shape = shape_for(25_000_000)
    assert 150_000 <= shape.users <= 170_000 and 55_000 <= shape.movies <= 62_000


def test_refuses_sizes_that_do_not_fit():
    with pytest.raises(SyntheticSizeError, match="GiB"):
        check_fits(25_000_000, available_bytes=2 * 2**30)
    with pytest.raises(SyntheticSizeError, match="10,000 or more"):
        check_fits(5_000)
