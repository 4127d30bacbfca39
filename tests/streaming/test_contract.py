"""Fast checks of the event schema as the job applies it, and of the landed-store contract (no services)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from pipelines import kafka_config, landed
from pipelines.events import ClickEvent, InvalidEvent, future_ts_reason, latest_allowed_ts, parse_event
from pipelines.settings import Settings
from streaming.checkpoints import latest_checkpoint
from streaming.fallback import classify, classify_without_nulls
from streaming.sql import offsets_spec
from tests.streaming.helpers import INVALID_PAYLOADS


def test_classify_accepts_a_valid_event_and_normalises_it():
    event = ClickEvent(user_id=3, movie_id=7, event="like")
    ok, reason, checked_at, version, event_id, user, movie, kind, ts, source, request_id = classify(
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
    assert event_id == str(event.event_id) and checked_at >= event.ts and request_id is None


@pytest.mark.parametrize("payload", [p.decode(errors="replace") for p in INVALID_PAYLOADS] + [None])
def test_classify_rejects_with_a_reason(payload):
    ok, reason, *rest = classify(payload, 300)
    assert ok is False and reason and all(v is None for v in rest[1:])


def test_the_udf_row_has_no_nulls_and_keeps_valid_values():
    """What thread-mode PyFlink can hand back to the JVM: stand-ins instead of None; valid rows unchanged."""
    valid = ClickEvent(user_id=3, movie_id=7, event="like").model_dump_json()
    assert classify_without_nulls(valid, 300)[3:-1] == classify(valid, 300)[3:-1]
    assert classify_without_nulls(valid, 300)[-1] == ""  # no request_id: SQL maps '' back to NULL
    rejected = classify_without_nulls('{"user_id": -7}', 300)
    assert None not in rejected and rejected[0] is False and rejected[1]
    assert rejected[3:] == (0, "", 0, 0, "", 0, "", "")


def test_far_future_reason_names_the_skew():
    payload = json.dumps({"user_id": 1, "movie_id": 2, "ts": int(time.time() * 1000) + 3_600_000})
    assert "in the future" in classify(payload, 300)[1]
    assert classify(payload, 7200)[0] is True


def test_future_skew_rule_is_inclusive_at_the_limit():
    """parse_event accepts ts == now + skew exactly and rejects one millisecond later, with the shared reason."""
    now = 1_700_000_000_000
    limit = latest_allowed_ts(now, 300)
    assert limit == now + 300_000
    assert parse_event(ClickEvent(user_id=1, movie_id=2, ts=limit).model_dump_json(), now_ms=now).ts == limit
    with pytest.raises(InvalidEvent) as rejected:
        parse_event(ClickEvent(user_id=1, movie_id=2, ts=limit + 1).model_dump_json(), now_ms=now)
    assert rejected.value.reason == future_ts_reason(limit + 1, 300)


def test_kafka_configs_share_the_defaults_and_let_callers_override():
    prod = kafka_config.producer_config("127.0.0.1:1", **{"linger.ms": 1})
    assert (prod["acks"], prod["enable.idempotence"], prod["linger.ms"]) == ("all", True, 1)
    cons = kafka_config.consumer_config("127.0.0.1:1", "g", **{"auto.offset.reset": "latest"})
    assert (cons["group.id"], cons["enable.auto.commit"], cons["auto.offset.reset"]) == ("g", False, "latest")
    settings = Settings(clicks_topic="c", dlq_topic="d", clicks_partitions=4, impressions_topic="i",
                        impressions_partitions=2, trending_topic="t")  # fmt: skip
    assert kafka_config.topic_specs(settings) == {"c": 4, "d": 1, "i": 2, "t": 1}


def test_streaming_cli_has_the_documented_commands():
    from typer.main import get_command

    from infra.cli.streaming import app

    root = get_command(app)
    groups = {name: sorted(getattr(cmd, "commands", {})) for name, cmd in root.commands.items()}
    assert groups == {"broker": ["start", "status", "stop"], "topics": ["create"],
                      "job": ["run-bounded", "start", "status", "stop"], "dlq": ["replay", "show"],
                      "online": ["run-bounded", "start", "status", "stop"],
                      "lag": [], "loadgen": []}  # fmt: skip


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
    assert landed.committed_files(tmp_path) == {"2026-01-02": ["compacted-part-a-0-0", "part-d"]}
    assert landed.committed_files(tmp_path / "missing") == {}


def test_jdbc_url_and_table_names():
    assert landed.jdbc_url("postgresql://postgres@127.0.0.1:5432/test") == (
        "jdbc:postgresql://127.0.0.1:5432/test?stringtype=unspecified&user=postgres"
    )
    with pytest.raises(ValueError):
        landed.checked_table("x; DROP TABLE y")
    with pytest.raises(ValueError):
        landed.jdbc_url("mysql://h/db")


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


def test_impression_event_json_key_and_parse_reasons():
    import re
    import uuid

    from pipelines.impressions import ImpressionEvent, parse_impression
    from streaming.online_graph import classify_impression
    from streaming.online_sql import impression_regex

    rid = uuid.UUID("12345678-1234-4234-8234-123456789abc")
    e = ImpressionEvent(request_id=rid, user_id=7, model_name="movierec", model_version="3", variant="challenger",
                        strategy="cold_start", items=[5, 9, 2], ts=1_700_000_000_000)  # fmt: skip
    assert json.loads(e.to_json_bytes()) == {
        "schema_version": 1, "request_id": str(rid), "user_id": 7, "model_name": "movierec", "model_version": "3",
        "variant": "challenger", "strategy": "cold_start", "items": [5, 9, 2], "ts": 1_700_000_000_000,
    }  # fmt: skip
    assert e.kafka_key() == b"7" and e.position(9) == 2 and e.position(4) is None
    assert parse_impression(e.to_json_bytes()) == e
    for bad, where in (({"variant": "control"}, "variant"), ({"items": list(range(1, 102))}, "items"),
                       ({"items": [0]}, "items.0"), ({"extra": 1}, "extra"), ({"user_id": 0}, "user_id")):  # fmt: skip
        with pytest.raises(InvalidEvent) as rejected:
            parse_impression(json.dumps({**json.loads(e.to_json_bytes()), **bad}))
        assert rejected.value.reason.startswith("schema: ") and where in rejected.value.reason
    # the SQL fast path's shape: the canonical form only; everything else takes parse_impression (the UDF)
    regex = re.compile(impression_regex())
    assert regex.search(e.to_json_bytes().decode())
    assert regex.search(e.model_copy(update={"items": []}).to_json_bytes().decode())
    assert not regex.search(json.dumps(json.loads(e.to_json_bytes())))
    assert classify_impression(json.dumps(json.loads(e.to_json_bytes())))[:3] == (True, "", str(rid))
    assert classify_impression(json.dumps(json.loads(e.to_json_bytes())))[8] == "5,9,2"
    assert classify_impression(None)[0] is False and None not in classify_impression("{}")


def test_click_request_id_is_optional_and_canonical():
    import uuid

    legacy = '{"user_id": 3, "movie_id": 4}'
    assert parse_event(legacy).request_id is None
    rid = uuid.uuid4()
    e = ClickEvent(user_id=3, movie_id=4, request_id=rid)
    assert json.loads(e.to_json_bytes())["request_id"] == str(rid)
    assert e.model_dump_json().endswith(f',"request_id":"{rid}"}}')
    assert parse_event(e.to_json_bytes()).request_id == rid
    with pytest.raises(InvalidEvent):
        parse_event(json.dumps({"user_id": 3, "movie_id": 4, "request_id": "nope"}))
