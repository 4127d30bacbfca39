"""Fast checks of the event schema as the job applies it, and of the landed-store contract (no services)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from pipelines import landed as store
from pipelines.events import ClickEvent
from streaming.job import classify, classify_without_nulls, latest_checkpoint, offsets_spec
from tests.streaming.helpers import INVALID_PAYLOADS


def test_classify_accepts_a_valid_event_and_normalises_it():
    event = ClickEvent(user_id=3, movie_id=7, event="like")
    ok, reason, checked_at, version, event_id, user, movie, kind, ts, source = classify(
        event.model_dump_json(), 300
    )
    assert (ok, reason, version, user, movie, kind, ts, source) == (
        True,
        None,
        1,
        3,
        7,
        "like",
        event.ts,
        "web",
    )
    assert event_id == str(event.event_id) and checked_at >= event.ts


@pytest.mark.parametrize("payload", [p.decode(errors="replace") for p in INVALID_PAYLOADS] + [None])
def test_classify_rejects_with_a_reason(payload):
    ok, reason, *rest = classify(payload, 300)
    assert ok is False and reason and all(v is None for v in rest[1:])


def test_the_udf_row_has_no_nulls_and_keeps_valid_values():
    """What thread-mode PyFlink can hand back to the JVM: stand-ins instead of None; valid rows unchanged."""
    valid = ClickEvent(user_id=3, movie_id=7, event="like").model_dump_json()
    assert classify_without_nulls(valid, 300)[3:] == classify(valid, 300)[3:]
    rejected = classify_without_nulls('{"user_id": -7}', 300)
    assert None not in rejected and rejected[0] is False and rejected[1]
    assert rejected[3:] == (0, "", 0, 0, "", 0, "")


def test_far_future_reason_names_the_skew():
    payload = json.dumps({"user_id": 1, "movie_id": 2, "ts": int(time.time() * 1000) + 3_600_000})
    assert "in the future" in classify(payload, 300)[1]
    assert classify(payload, 7200)[0] is True


def test_committed_files_skips_in_progress_markers_and_uncompacted(tmp_path: Path):
    part = tmp_path / "dt=2026-01-02"
    part.mkdir()
    for name in (
        "compacted-part-a-0-0",
        ".part-b-0-1.inprogress.x",
        "_SUCCESS",
        "uncompacted-part-c-0-2",
        "part-d",
    ):
        (part / name).write_text("{}\n")
    (tmp_path / "not-a-partition").mkdir()
    assert store.committed_files(tmp_path) == {"2026-01-02": ["compacted-part-a-0-0", "part-d"]}
    assert store.committed_files(tmp_path / "missing") == {}


def test_jdbc_url_and_table_names():
    assert store.jdbc_url("postgresql://postgres@127.0.0.1:5432/test") == (
        "jdbc:postgresql://127.0.0.1:5432/test?stringtype=unspecified&user=postgres"
    )
    with pytest.raises(ValueError):
        store.checked_table("x; DROP TABLE y")
    with pytest.raises(ValueError):
        store.jdbc_url("mysql://h/db")


def test_offsets_spec_and_latest_checkpoint(tmp_path: Path):
    assert offsets_spec({1: 5, 0: 3}) == "partition:0,offset:3;partition:1,offset:5"
    assert latest_checkpoint(tmp_path) is None
    for job, chk, age in (("a", 3, 100), ("b", 1, 10), ("b", 2, None)):
        folder = tmp_path / job / f"chk-{chk}"
        folder.mkdir(parents=True)
        if age is not None:  # chk-2 of b is incomplete (no _metadata)
            (folder / "_metadata").write_text("x")
            os.utime(folder / "_metadata", (time.time() - age, time.time() - age))
    assert latest_checkpoint(tmp_path) == tmp_path / "b" / "chk-1"
