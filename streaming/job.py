"""The PyFlink 2.0 landing job (Table API, local mini-cluster): Kafka clicks -> validate -> DLQ | dedup -> store.

Runs in the Flink env: `.venvs/flink/bin/python -m streaming.job --mode long-running|bounded [--settings <json>]`
(Settings from the MOVIEREC_* env when --settings is absent). infra.flink_job starts and stops it, passing a
settings file so the job runs with exactly the launcher's values.

- parse + validate: canonical payloads in Flink SQL (streaming.fast_path), every other payload with
  pipelines.events.parse_event in a Python UDF (streaming.fallback); invalid payloads go to the DLQ topic;
- de-duplicate by event_id with Flink's keep-first-row Deduplicate (TTL settings.flink_dedup_ttl_s), append-only;
- land into date-partitioned JSON-lines files (pipelines.landed) and, when configured, a JDBC upsert keyed on
  event_id (streaming.sql, streaming.landing_graph);
- checkpoints every settings.flink_checkpoint_interval_s, retained; a fresh process restores from the latest
  retained checkpoint (streaming.checkpoints); fixed-delay restarts (streaming.flink_config).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines import landed
from pipelines.settings import Settings, get_settings
from streaming import checkpoints
from streaming.checkpoints import BOUNDED, LONG_RUNNING
from streaming.landing_graph import build
from streaming.submit import prepare_jvm, submit_and_wait


def run(settings: Settings, mode: str, stop_offsets: dict[int, int] | None, status_file: Path | None,
        fresh: bool = False) -> None:  # fmt: skip
    """Submit the job and block until it ends (bounded) or forever (long-running)."""
    prepare_jvm(settings)
    settings.feedback_dir.mkdir(parents=True, exist_ok=True)
    if settings.feedback_postgres_url:
        landed.ensure_table(settings.feedback_postgres_url, settings.feedback_postgres_table)
    checkpoint_root, restore_from = checkpoints.prepare(settings, mode, fresh)
    _, statements = build(settings, checkpoint_root, restore_from, stop_offsets)
    submit_and_wait(statements, "job", mode, checkpoint_root, restore_from, status_file)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--settings", type=Path, help="JSON dump of pipelines.settings.Settings (default: the env)"
    )
    parser.add_argument("--mode", choices=(LONG_RUNNING, BOUNDED), default=LONG_RUNNING)
    parser.add_argument("--stop-offsets", type=json.loads, help='bounded mode: {"0": 42, ...}')
    parser.add_argument("--status-file", type=Path)
    parser.add_argument("--fresh", action="store_true", help="ignore retained checkpoints")
    args = parser.parse_args(argv)
    settings = Settings(**json.loads(args.settings.read_text())) if args.settings else get_settings()
    stop = {int(p): int(o) for p, o in args.stop_offsets.items()} if args.stop_offsets is not None else None
    if (args.mode == BOUNDED) != (stop is not None):
        parser.error("--stop-offsets is required in bounded mode and only there")
    run(settings, args.mode, stop, args.status_file, fresh=args.fresh)


if __name__ == "__main__":
    main()
