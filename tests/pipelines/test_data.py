"""Loaders: the canonical shape from each format, clear errors on bad input."""

from pathlib import Path

import pandas as pd
import pytest

from pipelines.data import DataError, load_movielens
from tests.helpers import FIXTURE_DATA_ROOT, SHARED_DATA_ROOT

CANONICAL = ["user_id", "item_id", "rating", "timestamp"]


def test_ml_latest_small_slice_loads_in_canonical_shape():
    data = load_movielens(FIXTURE_DATA_ROOT, "ml-latest-small")
    assert list(data.ratings.columns) == CANONICAL
    assert data.ratings.user_id.dtype == "int64" and data.ratings.rating.dtype == "float64"
    toy = data.movies.set_index("item_id").loc[1]
    assert toy.title == "Toy Story" and toy.year == 1995 and "Animation" in toy.genres


@pytest.mark.skipif(not (SHARED_DATA_ROOT / "ml-100k").exists(), reason="offline MovieLens copy not present")
def test_ml_100k_reads_latin1_titles_and_genre_flags():
    data = load_movielens(SHARED_DATA_ROOT, "ml-100k")
    assert len(data.ratings) == 100_000 and data.ratings.user_id.nunique() == 943
    assert list(data.ratings.columns) == CANONICAL
    assert data.movies.title.str.contains("é").any()  # latin-1 decoded
    assert data.movies.set_index("item_id").loc[1].genres == "Animation|Children's|Comedy"


def _write_ml1m(folder: Path, ratings: str | None) -> None:
    folder.mkdir(parents=True)
    (folder / "movies.dat").write_bytes(
        "1::Amélie (2001)::Comedy|Romance\n2::Heat (1995)::Action\n".encode("latin-1")
    )
    if ratings is not None:
        (folder / "ratings.dat").write_text(ratings)


def test_ml_1m_format(tmp_path):
    _write_ml1m(tmp_path / "ml-1m", "1::1::5::978300760\n2::2::3::978300761\n")
    data = load_movielens(tmp_path, "ml-1m")
    assert data.ratings.to_dict("records")[0] == {
        "user_id": 1,
        "item_id": 1,
        "rating": 5.0,
        "timestamp": 978300760,
    }
    assert data.movies.title.tolist() == ["Amélie", "Heat"]


def test_ml_1m_without_ratings_names_the_missing_file(tmp_path):
    _write_ml1m(tmp_path / "ml-1m", None)
    with pytest.raises(DataError, match=r"ratings\.dat: file not found"):
        load_movielens(tmp_path, "ml-1m")


def test_unknown_dataset_and_missing_dir(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'ml-42'"):
        load_movielens(tmp_path, "ml-42")
    with pytest.raises(DataError, match="data set folder not found"):
        load_movielens(tmp_path, "ml-100k")


def test_bad_rows_fail_with_file_and_count(tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    pd.DataFrame({"movieId": [1], "title": ["X (2000)"], "genres": ["Drama"]}).to_csv(
        folder / "movies.csv", index=False
    )
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,100\nabc,1,3.0,101\n2,1,,102\n"
    )
    with pytest.raises(DataError, match=r"ratings\.csv: 2 malformed rating row\(s\), first at data row 2"):
        load_movielens(tmp_path, "ml-latest-small")


def test_wrong_header_is_named(tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="expected columns"):
        load_movielens(tmp_path, "ml-latest-small")
