"""The job validates in Flink SQL (canonical payloads) with parse_event as the fallback: same decisions, same output.

pipelines.events.parse_event stays the single source of truth: the SQL fast path may only accept what
parse_event accepts, with identical normalised fields, and a rejection must carry parse_event's reason.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid

import pytest

from pipelines.events import ClickEvent
from pipelines.settings import Settings
from streaming.fallback import classify
from streaming.fast_path import fast_path_spec, split_fast_payload
from tests.helpers import REPO_ROOT
from tests.streaming.parity_corpus import SKEW_S, corpus, has_random_defaults


def python_fast_path(payload: str | None) -> tuple | None:
    """The SQL fast path (REGEXP shape check + SPLIT_INDEX extraction) evaluated in Python, same regex text."""
    spec = fast_path_spec()
    if payload is None or re.search(spec["regex"], payload) is None:
        return None
    v = split_fast_payload(payload)
    return (
        spec["schema_version"],
        v["event_id"],
        int(v["user_id"]),
        int(v["movie_id"]),
        v["event"],
        int(v["ts"]),
        v["source"],
        v["request_id"],
    )


def test_fast_path_accepts_only_what_parse_event_accepts_with_identical_fields():
    fast = 0
    for payload in corpus(n_random=3000):
        fields = python_fast_path(payload)
        if fields is None:
            continue
        fast += 1
        ok, reason, _, *expected = classify(payload, 10**12)  # the future check is taken separately in SQL
        assert ok, (payload, reason)
        assert tuple(expected) == fields, payload
    assert fast > 50


def test_every_canonical_event_takes_the_fast_path():
    for i in range(500):
        request_id = uuid.UUID(int=i * 7_919_000_000_123_457, version=4) if i % 2 else None
        event = ClickEvent(user_id=1 + i * 1_999_993 % 999_999_999, movie_id=1 + i, event=("click", "like", "watch")[i % 3],
                           source=("web", "loadgen", "bench", "x" * 64)[i % 4], ts=i * 7_919_000_000,
                           request_id=request_id)  # fmt: skip
        fields = python_fast_path(event.model_dump_json())
        assert fields is not None, event
        assert fields[-1] == (None if request_id is None else str(request_id))
        # the pre-impression canonical form (no request_id member) stays on the fast path too
        legacy = event.model_dump_json(exclude={"request_id"})
        assert python_fast_path(legacy) is not None and python_fast_path(legacy)[-1] is None


@pytest.mark.integration
@pytest.mark.slow
def test_flink_validation_stage_matches_parse_event_on_the_corpus(tmp_path):
    payloads = corpus()
    (tmp_path / "corpus.json").write_text(json.dumps(payloads))
    python = Settings().venv_python("flink")
    began = int(time.time() * 1000)
    subprocess.run(
        [str(python), "-m", "tests.streaming.flink_parity", str(tmp_path / "corpus.json"), str(tmp_path / "out.json"),
         str(SKEW_S)], cwd=REPO_ROOT, check=True, timeout=600)  # fmt: skip
    rows = {row[0]: row[1:] for row in json.loads((tmp_path / "out.json").read_text())}
    assert sorted(rows) == list(range(len(payloads))), "every payload is classified exactly once"
    fast_ok = fast_rejected = 0
    for i, payload in enumerate(payloads):
        ok, reason, *fields = rows[i]
        expected_ok, expected_reason, checked_at, *expected = classify(payload, SKEW_S)
        assert ok is expected_ok, (payload, reason, expected_reason)
        if not ok:
            assert reason == expected_reason, payload
        elif not has_random_defaults(payload):
            assert fields == expected, payload
        fast_ok += ok and python_fast_path(payload) is not None
        fast_rejected += (
            not ok and python_fast_path(payload) is not None
        )  # the future-ts rule, decided in SQL
        assert checked_at >= began
    assert fast_ok > 10 and fast_rejected >= 2
