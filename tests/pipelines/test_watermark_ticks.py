"""Watermark ticks: the record format, and the rules that keep them out of every result."""

from __future__ import annotations

from pipelines.events import ClickEvent
from pipelines.settings import Settings
from pipelines.watermark_ticks import TICK_KEY, TICK_PREFIX, is_tick, sql_is_tick, tick_payload, tick_ts
from streaming import online_sql
from streaming.fast_path import fast_path_sql


def test_tick_payload_round_trip_and_recognition():
    value = tick_payload(1_700_000_000_123)
    assert value.startswith(TICK_PREFIX.encode()) and tick_ts(value) == 1_700_000_000_123
    assert is_tick(TICK_KEY) and is_tick(None, value)
    click = ClickEvent(user_id=1, movie_id=2)
    assert not is_tick(click.kafka_key(), click.to_json_bytes())


def test_both_jobs_drop_ticks_before_validation():
    slow_input = fast_path_sql("clicks_raw", 300)["slow_input"]
    assert sql_is_tick() in slow_input  # the landing job: neither landed nor dead-lettered
    for view in online_sql.timed_views(Settings(), bounded=False) + online_sql.timed_views(Settings(), True):
        assert f"NOT {sql_is_tick()}" in view


def test_idle_timeout_is_a_fallback_when_ticking():
    assert online_sql.idle_timeout_s(Settings(watermark_tick_s=1, online_allowed_lateness_s=10)) == 30
    assert online_sql.idle_timeout_s(Settings(watermark_tick_s=0, online_allowed_lateness_s=10)) == 10
    assert online_sql.idle_timeout_s(Settings(watermark_tick_s=0, online_allowed_lateness_s=2)) == 5
