"""great-expectations suites pass on real data and name what fails on bad data."""

import time
import uuid

import pandas as pd
import pytest

from pipelines.data import load_movielens
from pipelines.validation import DataValidationError, validate_feedback, validate_movies, validate_ratings
from tests.helpers import FIXTURE_DATA_ROOT


@pytest.fixture(scope="module")
def data():
    return load_movielens(FIXTURE_DATA_ROOT, "ml-latest-small")


def test_real_slice_passes(data, tmp_path):
    report = validate_ratings(data.ratings)
    assert report.success and report.rows == len(data.ratings)
    assert validate_movies(data.movies).success
    written = report.write(tmp_path)
    assert '"success": true' in written.read_text()


def test_out_of_range_nulls_and_duplicates_are_named(data):
    bad = data.ratings.head(50).copy()
    bad.loc[bad.index[0], "rating"] = 7.5
    bad = pd.concat([bad, bad.head(1)])  # duplicate (user, item, timestamp)
    with pytest.raises(DataValidationError) as err:
        validate_ratings(bad)
    message = str(err.value)
    assert "expect_column_values_to_be_between" in message and "'rating'" in message
    assert "expect_compound_columns_to_be_unique" in message
    assert not err.value.report.success


def _event(**kw):
    base = {
        "event_id": str(uuid.uuid4()),
        "user_id": 1,
        "movie_id": 1,
        "event": "click",
        "ts": int(time.time() * 1000),
        "source": "web",
    }
    return {**base, **kw}


def test_feedback_empty_batch_is_valid_and_good_batch_passes():
    assert validate_feedback(pd.DataFrame()).success
    assert validate_feedback(pd.DataFrame([_event(), _event(event="like")])).success


def test_corrupt_feedback_fails():
    dup = str(uuid.uuid4())
    df = pd.DataFrame(
        [
            _event(event_id=dup),
            _event(event_id=dup),
            _event(event="hover"),
            _event(user_id=-1),
            _event(ts=int(time.time() * 1000) + 86_400_000),
        ]
    )
    with pytest.raises(DataValidationError) as err:
        validate_feedback(df)
    message = str(err.value)
    for expected in ("to_be_unique", "to_be_in_set", "'user_id'", "'ts'"):
        assert expected in message


def test_user_demographics_suite_names_bad_rows():
    from pipelines.validation import validate_users

    good = pd.DataFrame(
        {"user_id": [1, 2], "age": [24, 53], "gender": ["M", "F"], "occupation": ["writer", "other"]}
    )
    assert validate_users(good).success
    bad = pd.concat(
        [good, pd.DataFrame({"user_id": [2], "age": [200], "gender": ["X"], "occupation": [None]})]
    )
    with pytest.raises(DataValidationError) as err:
        validate_users(bad)
    message = str(err.value)
    assert all(name in message for name in ("'age'", "'gender'", "'occupation'", "'user_id'"))


def test_a_bad_hand_added_movie_stops_the_run_at_validate(tmp_path):
    """The catalog-additions file is a feature input: a record without a year fails validate, nothing is trained."""
    import json

    from pipelines.pipeline import run_stage
    from tests.helpers import small_settings

    cfg = small_settings(tmp_path / "var")
    cfg.catalog_additions_file.parent.mkdir(parents=True)
    record = {"item_id": 990_001, "title": "No Year", "genres": ["Drama"], "year": None, "added_at": 1.0}
    cfg.catalog_additions_file.write_text(json.dumps(record) + "\n")
    with pytest.raises(DataValidationError, match="'year'"):
        run_stage("validate", "bad-addition", base=cfg)
    assert not (cfg.runs_dir / "bad-addition" / "validate.json").exists()
    record["year"] = 2024
    cfg.catalog_additions_file.write_text(json.dumps(record) + "\n")
    summary = run_stage("validate", "good-addition", base=cfg)
    assert summary["added_movies"] == 1
