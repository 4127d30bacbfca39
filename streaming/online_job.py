"""The PyFlink 2.0 online-evaluation job: impressions + clicks -> attributed CTR per model version and A/B arm.

Runs in the Flink env: `.venvs/flink/bin/python -m streaming.online_job --mode long-running|bounded
[--settings <json>] [--stop-offsets '{"impressions": {"0": 42}, "clicks": {...}}']`. infra.flink_job starts and
stops it (`movierec streaming online ...`), like the landing job (streaming.job), whose checkpoint/restore
discipline it shares (streaming.checkpoints, folder ONLINE_CHECKPOINTS).

- event time: `ts` of each event, watermark = max ts - online_allowed_lateness_s per partition, one watermark
  for both topics (long-running: one source); later events are left out of the windows and counted in the
  dead-letter topic (kind 'late'); long-running, a Ticker thread writes a watermark tick into every partition
  of both topics every watermark_tick_s (pipelines.watermark_ticks), so no partition idles;
- attribution (one event-time temporal join): a click joins its impression by request_id, else the latest
  impression that showed the movie to the user (user + movie), at most attribution_window_s before the click; the
  rest is 'unattributed';
- each impression (request_id) and click (event_id) counts once per window, re-sent copies included;
- per tumbling online_window_s window and (model_name, model_version, variant, strategy): impressions, clicks,
  clicks_at_10, ctr_at_10, mean_clicked_position -> JSON-lines files under online_metrics_dir (exactly once via
  checkpoints) and, when configured, a PostgreSQL upsert (streaming.online_sql.online_table);
- trending: per-movie clicks and likes over a HOP(trending_window_s, trending_slide_s) window -> trending_topic;
- impressions with a bad schema -> the dead-letter topic (kind 'invalid'; bad clicks are the landing job's).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines.settings import Settings, get_settings
from pipelines.watermark_ticks import online_ticker
from streaming import checkpoints, online_sql
from streaming.checkpoints import BOUNDED, LONG_RUNNING, ONLINE_CHECKPOINTS
from streaming.online_graph import build
from streaming.submit import prepare_jvm, submit_and_wait


def ensure_online_table(settings: Settings) -> None:
    import psycopg

    with psycopg.connect(settings.feedback_postgres_url, autocommit=True) as conn:
        conn.execute(online_sql.online_table_ddl(online_sql.online_table(settings)))


def run(settings: Settings, mode: str, stop_offsets: dict[str, dict[int, int]] | None, status_file: Path | None,
        fresh: bool = False, external_ticker: bool = False) -> None:  # fmt: skip
    """Submit the job and block until it ends (bounded) or forever (long-running). Long-running, this process
    also runs the watermark ticker, unless `external_ticker` (`flink run --detached`: the driver exits after
    submission; streaming.ticker runs beside the cluster)."""
    prepare_jvm(settings, settings.flink_online_jvm_heap)
    settings.online_metrics_dir.mkdir(parents=True, exist_ok=True)
    if settings.feedback_postgres_url:
        ensure_online_table(settings)
    checkpoint_root, restore_from = checkpoints.prepare(settings, mode, fresh, ONLINE_CHECKPOINTS)
    _, statements = build(settings, checkpoint_root, restore_from, stop_offsets)
    ticker = online_ticker(settings)
    ticks = mode == LONG_RUNNING and settings.watermark_tick_s > 0 and not external_ticker
    try:
        submit_and_wait(statements, "online job", mode, checkpoint_root, restore_from, status_file,
                        on_submitted=ticker.start if ticks else None)  # fmt: skip
    finally:
        ticker.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--settings", type=Path, help="JSON dump of pipelines.settings.Settings (default: the env)"
    )
    parser.add_argument("--mode", choices=(LONG_RUNNING, BOUNDED), default=LONG_RUNNING)
    parser.add_argument(
        "--stop-offsets", type=json.loads, help='bounded mode: {"impressions": {"0": 42}, "clicks": {...}}'
    )
    parser.add_argument("--status-file", type=Path)
    parser.add_argument("--fresh", action="store_true", help="ignore retained checkpoints")
    parser.add_argument(
        "--external-ticker",
        action="store_true",
        help="streaming.ticker runs elsewhere (flink run --detached)",
    )
    args = parser.parse_args(argv)
    settings = Settings(**json.loads(args.settings.read_text())) if args.settings else get_settings()
    stop = None
    if args.stop_offsets is not None:
        stop = {
            t: {int(p): int(o) for p, o in args.stop_offsets[t].items()} for t in ("impressions", "clicks")
        }
    if (args.mode == BOUNDED) != (stop is not None):
        parser.error("--stop-offsets is required in bounded mode and only there")
    run(settings, args.mode, stop, args.status_file, fresh=args.fresh, external_ticker=args.external_ticker)


if __name__ == "__main__":
    main()
