"""Real broker + real PyFlink (+ PostgreSQL when available): the online job's attribution, lateness and trending.

The fixture stream below is small enough to compute by hand; every topic has one partition and the job runs
with parallelism 1, so which events are late depends only on the order they are produced in.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter

import pytest

from infra import flink_job
from pipelines.events import ClickEvent
from pipelines.impressions import ImpressionEvent
from pipelines.kafka_config import producer
from pipelines.landed import committed_files
from pipelines.online_metrics import arm_totals, read_online_metrics
from pipelines.settings import Settings
from streaming.dlq import read_dlq, replay_dlq
from streaming.online_sql import online_table
from tests.helpers import read_topic, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T = 1_699_999_980_000  # a minute boundary (epoch ms): window A = [T, T+60s), window B = [T+60s, T+120s)
S = 1000
R = {n: uuid.UUID(int=n, version=4) for n in range(1, 9)}


def imp(
    n: int, user: int, version: str, variant: str, strategy: str, items: list[int], at: int
) -> ImpressionEvent:
    return ImpressionEvent(request_id=R[n], user_id=user, model_name="movierec", model_version=version,
                           variant=variant, strategy=strategy, items=items, ts=T + at * S)  # fmt: skip


def click(user: int, movie: int, at: int, request: int | None = None, event: str = "click") -> ClickEvent:
    rid = None if request is None else R[request]
    return ClickEvent(user_id=user, movie_id=movie, event=event, ts=T + at * S, request_id=rid)


IMPRESSIONS = [
    imp(1, 1, "1", "champion", "personalized", list(range(10, 22)), 1),  # I1: movie 12 at position 3
    imp(2, 2, "2", "challenger", "personalized", list(range(30, 45)), 2),  # I2: 31 at 2, 44 at 15
    imp(3, 3, "1", "champion", "cold_start", [50, 51], 3),
    imp(4, 1, "1", "champion", "personalized_from_clicks", [11, 60], 5),  # user 1's latest impression of 11
    imp(5, 2, "2", "challenger", "personalized", [70, 71], 65),  # window B; impressions watermark -> T+35
    imp(6, 4, "1", "champion", "personalized", [80], 30),  # LATE (T+30 <= T+35): dead-lettered, not counted
]
I7 = imp(7, 5, "1", "champion", "personalized", [90, 91], 50)  # on time; non-canonical JSON (Python fallback)
BAD_IMPRESSION = b'{"request_id": "x", "user_id": 1}'
CLICKS = [
    click(1, 12, 10, request=1),  # C1 -> champion v1 personalized, position 3
    click(2, 44, 11, request=2),  # C2 -> challenger, position 15 (not in the top 10)
    click(2, 31, 12, request=2),  # C3 -> challenger, position 2
    click(1, 11, 20),  # C4 no request_id -> latest impression of 11 for user 1 = I4, position 1
    click(3, 51, 21),  # C5 no request_id -> I3 cold_start, position 2
    click(1, 10, 22, request=8),  # C6 unknown request -> unattributed / unknown_request
    click(9, 99, 23),  # C7 no impression -> unattributed / no_impression
    click(1, 12, 24, event="like"),  # a like: trending only
    click(1, 13, 25),  # C8b no request_id: not in user 1's latest list (I4), but I1 showed it at 4 -> I1
    click(2, 71, 70, request=5),  # C9 window B -> challenger, position 2; clicks watermark -> T+40
    click(2, 30, 45, request=2),  # C10 within the allowed lateness (T+45 > T+40): counted, position 1
    click(2, 32, 35, request=2),  # C11 LATE (T+35 <= T+40): dead-lettered, not counted
]
C12 = click(5, 91, 52, request=7)  # on time, non-canonical JSON (Python fallback): champion, position 2
C13 = click(1, 14, 700)  # produced last; no request_id: I1 showed 14, but 699 s > attribution_window_s before

M = "movierec"
EXPECTED = {  # (window_start, model_name, model_version, variant, strategy): (impr, clicks, at_10, ctr, mean pos)
    (T, M, "1", "champion", "personalized"): (2, 3, 3, 1.5, 3.0),
    (T, M, "2", "challenger", "personalized"): (1, 3, 2, 2.0, 6.0),
    (T, M, "1", "champion", "cold_start"): (1, 1, 1, 1.0, 2.0),
    (T, M, "1", "champion", "personalized_from_clicks"): (1, 1, 1, 1.0, 1.0),
    (T, "", "", "unattributed", "unknown_request"): (0, 1, 0, None, None),
    (T, "", "", "unattributed", "no_impression"): (0, 1, 0, None, None),
    (T + 60 * S, M, "2", "challenger", "personalized"): (1, 1, 1, 1.0, 2.0),
    (T + 660 * S, "", "", "unattributed", "no_impression"): (0, 1, 0, None, None),
}


def produce_fixture(s: Settings) -> None:
    prod = producer(s.kafka_bootstrap)
    for e in IMPRESSIONS[:1] + IMPRESSIONS:  # I1 twice (a retried send): counted once
        prod.produce(s.impressions_topic, key=e.kafka_key(), value=e.to_json_bytes())
    prod.produce(
        s.impressions_topic, key=I7.kafka_key(), value=json.dumps(json.loads(I7.to_json_bytes())).encode()
    )
    prod.produce(s.impressions_topic, key=b"1", value=BAD_IMPRESSION)
    for e in CLICKS[:1] + CLICKS:  # C1 twice (a re-sent click, same event_id): counted once everywhere
        prod.produce(s.clicks_topic, key=e.kafka_key(), value=e.to_json_bytes())
    prod.produce(
        s.clicks_topic, key=C12.kafka_key(), value=json.dumps(json.loads(C12.to_json_bytes())).encode()
    )
    prod.produce(s.clicks_topic, key=C13.kafka_key(), value=C13.to_json_bytes())
    assert prod.flush(30) == 0


def expected_trending(s: Settings) -> dict[tuple[int, int], tuple[int, int]]:
    """{(window_end, movie_id): (clicks, likes)} of a HOP window over the on-time clicks and likes."""
    size, slide = s.trending_window_s * S, s.trending_slide_s * S
    counts: Counter = Counter()
    for e in [c for c in CLICKS if c.ts != T + 35 * S] + [C12, C13]:
        first_end = (e.ts // slide + 1) * slide
        for end in range(first_end, e.ts + size + 1, slide):
            if end - size <= e.ts < end:
                counts[(end, e.movie_id, e.event)] += 1
    keys = {(end, movie) for end, movie, _ in counts}
    return {(end, m): (counts[(end, m, "click")], counts[(end, m, "like")]) for end, m in keys}


def landed_rows(s: Settings) -> dict[tuple, tuple]:
    df = read_online_metrics(s)
    return {
        (r.window_start, r.model_name, r.model_version, r.variant, r.strategy): (
            r.impressions, r.clicks, r.clicks_at_10,
            None if r.ctr_at_10 != r.ctr_at_10 or r.ctr_at_10 is None else r.ctr_at_10,
            None if r.mean_clicked_position != r.mean_clicked_position or r.mean_clicked_position is None
            else r.mean_clicked_position,
        )
        for r in df.itertuples()
    }  # fmt: skip


def test_bounded_run_attributes_counts_late_events_and_publishes_trending(online_settings):
    s = online_settings
    produce_fixture(s)
    summary = flink_job.run_bounded(s, job=flink_job.ONLINE)
    assert summary["pending"] == 1 + len(IMPRESSIONS) + 2 + 1 + len(CLICKS) + 2

    assert landed_rows(s) == EXPECTED
    totals = arm_totals(read_online_metrics(s))
    assert totals["champion"]["impressions"] == 4 and totals["challenger"]["clicks_at_10"] == 3
    assert read_online_metrics(s, since_ms=T + 60 * S).shape[0] == 2

    dead = {(r["topic"], r["kind"], r["payload"]) for _, _, r in read_dlq(s)}
    assert dead == {
        (s.impressions_topic, "late", IMPRESSIONS[5].to_json_bytes().decode()),
        (s.impressions_topic, "invalid", BAD_IMPRESSION.decode()),
        (s.clicks_topic, "late", CLICKS[-1].to_json_bytes().decode()),
    }

    assert replay_dlq(s) == {"read": 3, "replayed": 0, "still_invalid": 1, "late_skipped": 2}

    want = expected_trending(s)
    records = read_topic(s.kafka_bootstrap, s.trending_topic, 1, len(want) + 1, timeout=15)
    got = {}
    for msg in records:
        row = json.loads(msg.value())
        assert msg.key().decode() == str(row["movie_id"]) and set(row) == {
            "movie_id",
            "clicks",
            "likes",
            "window_end",
        }
        got[(row["window_end"], row["movie_id"])] = (row["clicks"], row["likes"])
    assert got == want

    if s.feedback_postgres_url:
        import psycopg

        with psycopg.connect(s.feedback_postgres_url) as conn:
            pg = conn.execute(
                f"SELECT window_start, model_name, model_version, variant, strategy, impressions, clicks, "
                f"clicks_at_10, ctr_at_10, mean_clicked_position FROM {online_table(s)}"
            ).fetchall()
        assert {tuple(r[:5]): tuple(r[5:]) for r in pg} == EXPECTED

    # everything was consumed: a second bounded run has nothing to do
    assert flink_job.run_bounded(s, job=flink_job.ONLINE)["pending"] == 0


def window_stream(windows: int) -> list[tuple[list[ImpressionEvent], list[ClickEvent]]]:
    """Per window w: 2 champion + 2 challenger impressions and 3 clicks by request_id (positions 2 | 11, 1)."""
    out = []
    for w in range(windows):
        at = T + w * 60 * S
        imps = [ImpressionEvent(user_id=100 + 4 * w + k, model_name=M, model_version="1" if k < 2 else "2",
                                variant="champion" if k < 2 else "challenger", strategy="personalized",
                                items=list(range(1, 13)), ts=at + k * S) for k in range(4)]  # fmt: skip
        clicks = [ClickEvent(user_id=imps[k].user_id, movie_id=movie, ts=at + (10 + k) * S, request_id=imps[k].request_id)
                  for k, movie in ((0, 2), (2, 11), (3, 1))]  # fmt: skip
        out.append((imps, clicks))
    return out


def test_kill_minus_nine_then_restore_neither_loses_nor_double_counts(online_settings):
    s = online_settings
    windows = 40
    stream = window_stream(windows)
    expected = {}
    for w in range(windows):
        start = T + w * 60 * S
        expected[(start, M, "1", "champion", "personalized")] = (2, 1, 1, 0.5, 2.0)
        expected[(start, M, "2", "challenger", "personalized")] = (2, 2, 1, 0.5, 6.0)
    closers = (  # push both watermarks past the last window
        ImpressionEvent(user_id=1, model_name=M, model_version="9", variant="champion", strategy="cold_start",
                        items=[1], ts=T + (windows + 10) * 60 * S),
        ClickEvent(user_id=1, movie_id=1, ts=T + (windows + 10) * 60 * S),
    )  # fmt: skip

    def produce_stream():
        prod = producer(s.kafka_bootstrap)
        for imps, clicks in stream:
            for e in imps:
                prod.produce(s.impressions_topic, key=e.kafka_key(), value=e.to_json_bytes())
            for e in clicks:
                prod.produce(s.clicks_topic, key=e.kafka_key(), value=e.to_json_bytes())
            prod.flush(10)
            time.sleep(0.4)
        prod.produce(s.impressions_topic, key=b"1", value=closers[0].to_json_bytes())
        prod.produce(s.clicks_topic, key=b"1", value=closers[1].to_json_bytes())
        assert prod.flush(30) == 0

    def landed() -> dict:
        return {k: v for k, v in landed_rows(s).items() if k[0] < T + windows * 60 * S}

    flink_job.start_job(s, job=flink_job.ONLINE)
    try:
        producer_thread = threading.Thread(target=produce_stream)
        producer_thread.start()
        wait_until(lambda: len(landed()) > 0, timeout=120, interval=0.3, what="first landed window")
        pid = flink_job.job_process(s, job=flink_job.ONLINE).pid()
        os.killpg(pid, signal.SIGKILL)  # the JVM and the Python UDF threads are in the job's process group
        wait_until(
            lambda: flink_job.job_process(s, job=flink_job.ONLINE).pid() is None, timeout=15, what="job gone"
        )
        landed_at_crash = len(landed())
        producer_thread.join()
        assert landed_at_crash < len(expected), "the crash should happen mid-stream"

        flink_job.start_job(s, job=flink_job.ONLINE)
        assert flink_job.read_status(s, flink_job.ONLINE)["restored_from"], (
            "restart must restore a checkpoint"
        )
        wait_until(
            lambda: len(landed()) >= len(expected), timeout=180, interval=1, what="every window landed"
        )
        time.sleep(2 * s.flink_checkpoint_interval_s)  # a double count would show up by now
        assert landed() == expected
        raw = [
            json.loads(line)
            for dt, names in committed_files(s.online_metrics_dir).items()
            for name in names
            for line in (s.online_metrics_dir / f"dt={dt}" / name).read_text().splitlines()
            if line.strip()
        ]
        keys = Counter((r["window_start"], r["model_version"], r["variant"], r["strategy"]) for r in raw)
        assert max(keys.values()) == 1, "a window row was landed twice"
        if s.feedback_postgres_url:
            import psycopg

            with psycopg.connect(s.feedback_postgres_url) as conn:
                n = conn.execute(
                    f"SELECT count(*), sum(impressions) FROM {online_table(s)} WHERE window_start < %s",
                    (T + windows * 60 * S,),
                ).fetchone()
            assert n == (len(expected), 4 * windows)
    finally:
        flink_job.stop_job(s, job=flink_job.ONLINE)


def idle_stream() -> tuple[list[ImpressionEvent], list[ClickEvent], ClickEvent]:
    """Window [T, T+10s): 2 champion + 2 challenger impressions (items 1..12, so position = movie id), 4 clicks by
    request_id and 1 by user; later impressions P5 (T+60) and P6 (T+64); a click on P1 at T+50 (LATE once P6 has
    moved the watermark to T+59)."""
    imps = [ImpressionEvent(user_id=201 + k, model_name=M, model_version="1" if k < 2 else "2",
                            variant="champion" if k < 2 else "challenger", strategy="personalized",
                            items=list(range(1, 13)), ts=T + (1 + k) * S) for k in range(4)]  # fmt: skip
    clicks = [click_on(imps[k], movie, T + (5 + k) * S) for k, movie in enumerate((2, 11, 1, 3))]
    clicks.append(ClickEvent(user_id=201, movie_id=5, ts=T + 9 * S))  # no request_id: user 201's latest (P1)
    later = [ImpressionEvent(user_id=205 + k, model_name=M, model_version=v, variant=arm, strategy="personalized",
                             items=list(range(1, 13)), ts=T + at * S)
             for k, (v, arm, at) in enumerate((("1", "champion", 60), ("2", "challenger", 64)))]  # fmt: skip
    return imps + later, clicks, click_on(imps[0], 4, T + 50 * S)


def click_on(impression: ImpressionEvent, movie: int, ts: int) -> ClickEvent:
    return ClickEvent(user_id=impression.user_id, movie_id=movie, ts=ts, request_id=impression.request_id)


def test_events_after_idle_sources_are_counted_or_dead_lettered_never_dropped(online_settings):
    """Issue 14. (1) All sources idle while the attribution join holds clicks back, then only the clicks topic
    moves time on (the demo's `watch` events): the held clicks must still land. (2) The clicks topic idle while
    impressions move the watermark on, then a click older than that watermark: it must be dead-lettered as late,
    not dropped by a window without a trace. Every click is either in a landed window row or in the DLQ."""
    s = online_settings.model_copy(update={"online_allowed_lateness_s": 5, "online_window_s": 10})
    idle_s = 5  # streaming.online_sql: max(online_allowed_lateness_s, 5)
    impressions, clicks, late_click = idle_stream()
    prod = producer(s.kafka_bootstrap)

    def send(events: list) -> None:
        for e in events:
            topic = s.impressions_topic if isinstance(e, ImpressionEvent) else s.clicks_topic
            prod.produce(topic, key=e.kafka_key(), value=e.to_json_bytes())
        assert prod.flush(30) == 0

    def read_all_then_idle() -> None:
        """Until the job has read (and checkpointed) both topics to their ends, then past the idle timeout."""
        for topic in (s.impressions_topic, s.clicks_topic):
            wait_until(
                lambda t=topic: (lambda c, e: all(c[p] >= e[p] for p in e))(
                    *flink_job.pending_offsets(s, t, s.flink_online_consumer_group)
                ),
                timeout=120, interval=0.5, what=f"the online job to read {topic}",
            )  # fmt: skip
        time.sleep(idle_s + 3)

    flink_job.start_job(s, job=flink_job.ONLINE)
    try:
        send(impressions[:4] + clicks)
        read_all_then_idle()  # (1) everything idle; the join holds the clicks (ts T+5..T+9 > watermark T+4)
        send(
            [ClickEvent(user_id=201, movie_id=2, event="watch", ts=T + 40 * S)]
        )  # time moves on: clicks only
        read_all_then_idle()  # (2) the clicks topic idle ...
        send(impressions[4:])  # ... while impressions move the watermark to T+59
        read_all_then_idle()
        send([late_click])
        send([ImpressionEvent(user_id=1, model_name=M, model_version="9", variant="champion", strategy="cold_start",
                              items=[1], ts=T + 1000 * S),
              ClickEvent(user_id=1, movie_id=1, event="watch", ts=T + 1000 * S)])  # fmt: skip
        expected = {
            (T, M, "1", "champion", "personalized"): (2, 3, 2, 1.0, 6.0),  # positions 2, 11 and 5 (by user)
            (T, M, "2", "challenger", "personalized"): (2, 2, 2, 1.0, 2.0),  # positions 1, 3
            (T + 60 * S, M, "1", "champion", "personalized"): (1, 0, 0, 0.0, None),
            (T + 60 * S, M, "2", "challenger", "personalized"): (1, 0, 0, 0.0, None),
        }

        def landed() -> dict:
            return {k: v for k, v in landed_rows(s).items() if k[0] < T + 1000 * S}

        wait_until(
            lambda: len(landed()) >= len(expected), timeout=120, interval=1, what="every window landed"
        )
        time.sleep(2 * s.flink_checkpoint_interval_s)
        dead = [(r["topic"], r["kind"], r["payload"]) for _, _, r in read_dlq(s)]
        assert dead == [(s.clicks_topic, "late", late_click.to_json_bytes().decode())]
        assert landed() == expected
        assert sum(v[1] for v in landed().values()) + len(dead) == len(clicks) + 1, (
            "a click was dropped silently"
        )
    finally:
        flink_job.stop_job(s, job=flink_job.ONLINE)
