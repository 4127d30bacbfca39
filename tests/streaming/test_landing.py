"""Real broker + real PyFlink + real PostgreSQL: bounded landing, crash recovery, the DAG's feedback reader."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from infra import flink_job
from pipelines.feedback import commit_feedback_watermark, read_landed_feedback, snapshot_new_feedback
from pipelines.kafka_config import producer
from pipelines.watermark_ticks import TICK_KEY, tick_payload
from streaming.dlq import read_dlq
from tests.helpers import wait_until
from tests.streaming.helpers import INVALID_PAYLOADS, landed_file_ids, landed_pg_ids, produce, valid_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bounded_run_lands_valid_once_dead_letters_invalid_and_reader_consumes_once(stream_settings):
    s = stream_settings
    first = valid_events(600, seed=1)
    produce(s, first + first[:200], raw=INVALID_PAYLOADS)  # 200 duplicates of valid events
    # the online job's watermark ticks share the topic: neither landed nor dead-lettered
    ticks = producer(s.kafka_bootstrap)
    for p in range(s.clicks_partitions):
        ticks.produce(s.clicks_topic, key=TICK_KEY, value=tick_payload(int(time.time() * 1000)), partition=p)
    assert ticks.flush(10) == 0

    summary = flink_job.run_bounded(s)
    assert summary["pending"] == 800 + len(INVALID_PAYLOADS) + s.clicks_partitions
    files = landed_file_ids(s)
    assert set(files) == {str(e.event_id) for e in first} and max(files.values()) == 1
    if s.feedback_postgres_url:
        pg = landed_pg_ids(s)
        assert set(pg) == set(files) and max(pg.values()) == 1
    dead = read_dlq(s)
    assert len(dead) == len(INVALID_PAYLOADS)
    assert {r["payload"].encode() for _, _, r in dead} == set(INVALID_PAYLOADS)
    assert all(r["reason"] for _, _, r in dead)
    assert flink_job.run_bounded(s)["pending"] == 0  # stop offsets were committed: nothing left

    # the DAG's reader: the first run consumes all 600, a retried run reuses its snapshot
    snap = snapshot_new_feedback(s, "run-1", "lineage-a")
    assert snap["events"] == 600 and not snap["reused"]
    assert snapshot_new_feedback(s, "run-1", "lineage-a")["reused"]
    assert commit_feedback_watermark(s, "run-1", "lineage-a")["committed"]

    second = valid_events(150, seed=2)
    produce(s, second + first[:50])  # new events + re-sent old ones (PostgreSQL keeps them once)
    flink_job.run_bounded(s)
    snap2 = snapshot_new_feedback(s, "run-2", "lineage-a")
    df2 = read_landed_feedback(s, None)[0]
    new_ids = {str(e.event_id) for e in second}
    seen_twice = set(df2["event_id"]) & {str(e.event_id) for e in first}
    assert len(seen_twice) == 600  # everything is still in the store ...
    if s.feedback_postgres_url:  # ... but lineage-a only gets what it has not consumed
        assert snap2["events"] == 150
    else:  # files: the re-sent events land again in new files (the job's dedup state is per run)
        assert snap2["events"] in (150, 200)
    import pandas as pd

    batch = pd.read_json(snap2["path"], lines=True, dtype=False)
    assert new_ids <= set(batch["event_id"])
    # another lineage starts from scratch
    assert snapshot_new_feedback(s, "run-b1", "lineage-b")["events"] == 750


def test_kill_minus_nine_then_restart_lands_every_event_exactly_once(stream_settings):
    s = stream_settings
    events = valid_events(3000, seed=3)
    flink_job.start_job(s)
    try:
        producer_thread = threading.Thread(target=lambda: [produce(s, events[i : i + 100]) or time.sleep(0.1)
                                                           for i in range(0, 3000, 100)])  # fmt: skip
        producer_thread.start()
        wait_until(lambda: len(landed_file_ids(s)) > 0, timeout=120, interval=0.5, what="first landed file")
        pid = flink_job.job_process(s).pid()
        os.killpg(pid, signal.SIGKILL)  # the JVM and the Python workers are in the job's process group
        wait_until(lambda: flink_job.job_process(s).pid() is None, timeout=15, what="job gone")
        producer_thread.join()
        landed_at_crash = len(landed_file_ids(s))
        assert landed_at_crash < 3000, "the crash should happen mid-stream"

        flink_job.start_job(s)
        assert flink_job.read_status(s)["restored_from"], (
            "restart must restore the latest retained checkpoint"
        )
        expected = {str(e.event_id) for e in events}
        wait_until(
            lambda: set(landed_file_ids(s)) == expected, timeout=180, interval=1, what="all events landed"
        )
        assert max(landed_file_ids(s).values()) == 1
        if s.feedback_postgres_url:
            wait_until(lambda: set(landed_pg_ids(s)) == expected, timeout=60, what="all rows in PostgreSQL")
            assert max(landed_pg_ids(s).values()) == 1
    finally:
        flink_job.stop_job(s)
