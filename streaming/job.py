"""The PyFlink 2.0 landing job (Table API, local mini-cluster): Kafka clicks -> validate -> DLQ | dedup -> store.

Runs in the Flink env: `.venvs/flink/bin/python -m streaming.job --settings <json> --mode long-running|bounded`.
Launch it through `streaming.jobctl`, which builds the settings file and manages the process.

- parse + validate with pipelines.events.parse_event in a Python UDF; invalid payloads go to the DLQ topic
  with the reason;
- de-duplicate by event_id with keep-first-row keyed state (TTL settings.flink_dedup_ttl_s), append-only;
- land into date-partitioned JSON-lines files (auto-compaction: each checkpoint commits one file per dt and
  subtask) and, when configured, a JDBC upsert keyed on event_id;
- checkpoints every settings.flink_checkpoint_interval_s, retained; a fresh process restores from the
  latest retained checkpoint; fixed-delay restart strategy with settings.flink_restart_attempts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from pipelines.events import InvalidEvent, parse_event
from pipelines.settings import Settings
from streaming import store

LONG_RUNNING, BOUNDED = "long-running", "bounded"
PARSED_TYPE = (
    ("ok", "BOOLEAN"), ("reason", "STRING"), ("checked_at", "BIGINT"), ("schema_version", "INT"),
    ("event_id", "STRING"), ("user_id", "BIGINT"), ("movie_id", "BIGINT"), ("event", "STRING"),
    ("ts", "BIGINT"), ("source", "STRING"),
)  # fmt: skip


def java_home() -> str:
    """JAVA_HOME derived from the `java` on PATH (OpenJDK 17)."""
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java not found on PATH (Flink needs OpenJDK 17)")
    return str(Path(java).resolve().parent.parent)


def classify(payload: str | None, max_future_skew_s: int) -> tuple:
    """One raw payload -> a PARSED_TYPE tuple (ok=False with the reason for anything parse_event rejects)."""
    now_ms = int(time.time() * 1000)
    if payload is None:
        return (False, "empty payload (tombstone)", now_ms, None, None, None, None, None, None, None)
    try:
        e = parse_event(payload, now_ms=now_ms, max_future_skew_s=max_future_skew_s)
    except InvalidEvent as exc:
        return (False, exc.reason[:2000], now_ms, None, None, None, None, None, None, None)
    return (True, None, now_ms, e.schema_version, str(e.event_id), e.user_id, e.movie_id, e.event, e.ts, e.source)


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete retained checkpoint (`<root>/<job id>/chk-N` holding `_metadata`)."""
    candidates = [meta.parent for meta in root.glob("*/chk-*/_metadata")]
    return max(candidates, key=lambda p: (p / "_metadata").stat().st_mtime, default=None)


def prune_checkpoints(root: Path, keep: Path) -> None:
    """Delete retained checkpoints of earlier job runs, older than the one being restored (`keep`)."""
    keep_mtime = (keep / "_metadata").stat().st_mtime
    for job_dir in root.iterdir():
        if job_dir == keep.parent or not job_dir.is_dir():
            continue
        metas = list(job_dir.glob("chk-*/_metadata"))
        if all(m.stat().st_mtime < keep_mtime for m in metas):
            shutil.rmtree(job_dir, ignore_errors=True)


def offsets_spec(offsets: dict[int, int]) -> str:
    return ";".join(f"partition:{p},offset:{o}" for p, o in sorted(offsets.items()))


def ddl(settings: Settings, stop_offsets: dict[int, int] | None) -> list[str]:
    """CREATE TABLE statements: Kafka source, DLQ sink, file sink and (optional) JDBC sink."""
    bounded = (
        f", 'scan.bounded.mode' = 'specific-offsets', 'scan.bounded.specific-offsets' = '{offsets_spec(stop_offsets)}'"
        if stop_offsets is not None
        else ""
    )
    kafka = f"'connector' = 'kafka', 'properties.bootstrap.servers' = '{settings.kafka_bootstrap}'"
    interval = f"{settings.flink_checkpoint_interval_s}s"
    statements = [
        f"""CREATE TEMPORARY TABLE clicks_raw (
            payload STRING,
            kafka_partition INT METADATA FROM 'partition' VIRTUAL,
            kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL,
            pt AS PROCTIME()
        ) WITH ({kafka}, 'topic' = '{settings.clicks_topic}', 'format' = 'raw',
            'properties.group.id' = '{settings.flink_consumer_group}',
            'scan.startup.mode' = 'group-offsets', 'properties.auto.offset.reset' = 'earliest',
            'properties.commit.offsets.on.checkpoint' = 'true'{bounded})""",
        f"""CREATE TEMPORARY TABLE dlq (
            reason STRING, payload STRING, kafka_partition INT, kafka_offset BIGINT, rejected_at BIGINT
        ) WITH ({kafka}, 'topic' = '{settings.dlq_topic}', 'format' = 'json',
            'sink.delivery-guarantee' = 'at-least-once')""",
        f"""CREATE TEMPORARY TABLE feedback_files (
            schema_version INT, event_id STRING, user_id BIGINT, movie_id BIGINT, event STRING, ts BIGINT,
            source STRING, kafka_partition INT, kafka_offset BIGINT, dt STRING
        ) PARTITIONED BY (dt) WITH ('connector' = 'filesystem', 'path' = '{settings.feedback_dir.as_uri()}',
            'format' = 'json', 'auto-compaction' = 'true', 'compaction.file-size' = '64MB',
            'sink.rolling-policy.rollover-interval' = '{interval}',
            'sink.rolling-policy.check-interval' = '1s')""",
    ]
    if settings.feedback_postgres_url:
        statements.append(
            f"""CREATE TEMPORARY TABLE feedback_pg (
                schema_version INT, event_id STRING, user_id BIGINT, movie_id BIGINT, event STRING, ts BIGINT,
                source STRING, kafka_partition INT, kafka_offset BIGINT, PRIMARY KEY (event_id) NOT ENFORCED
            ) WITH ('connector' = 'jdbc', 'url' = '{store.jdbc_url(settings.feedback_postgres_url)}',
                'table-name' = '{store.checked_table(settings.feedback_postgres_table)}',
                'sink.buffer-flush.interval' = '1s', 'sink.buffer-flush.max-rows' = '2000', 'sink.max-retries' = '5')"""
        )
    return statements


FIELDS = ", ".join(store.LANDED_FIELDS)
QUERIES = {
    "parsed": """CREATE TEMPORARY VIEW parsed AS
        SELECT payload, kafka_partition, kafka_offset, pt, parse_click(payload) AS r FROM clicks_raw""",
    "flat": """CREATE TEMPORARY VIEW flat AS
        SELECT payload, kafka_partition, kafka_offset, pt, r.ok AS ok, r.reason AS reason, r.checked_at AS checked_at,
            r.schema_version AS schema_version, r.event_id AS event_id, r.user_id AS user_id,
            r.movie_id AS movie_id, r.event AS event, r.ts AS ts, r.source AS source FROM parsed""",
}
CHECKED_VIEWS = [
    f"CREATE TEMPORARY VIEW valid AS SELECT {FIELDS} FROM checked WHERE ok",
    "CREATE TEMPORARY VIEW rejected AS SELECT * FROM checked WHERE NOT ok",
]
INSERTS = {
    "dlq": """INSERT INTO dlq SELECT reason, payload, kafka_partition, kafka_offset, checked_at FROM rejected""",
    "files": f"""INSERT INTO feedback_files SELECT {FIELDS},
        DATE_FORMAT(TO_TIMESTAMP_LTZ(ts, 3), 'yyyy-MM-dd') AS dt FROM landed""",
    "pg": f"INSERT INTO feedback_pg SELECT {FIELDS} FROM landed",
}


def first_seen_function(ttl_s: int) -> Any:
    """A KeyedProcessFunction (keyed by event_id) that forwards only the first row per key within the TTL.

    The SQL keep-first-row Deduplicate is not usable here: in PyFlink 2.0 the planner turns it into an
    updating Rank in front of insert-only sinks (file, Kafka), so the state is kept in a Python operator.
    """
    from pyflink.common import Time
    from pyflink.common.typeinfo import Types
    from pyflink.datastream import KeyedProcessFunction
    from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor

    class FirstSeen(KeyedProcessFunction):
        def open(self, runtime_context) -> None:
            descriptor = ValueStateDescriptor("seen", Types.BOOLEAN())
            descriptor.enable_time_to_live(StateTtlConfig.new_builder(Time.seconds(ttl_s)).build())
            self.seen = runtime_context.get_state(descriptor)

        def process_element(self, row, ctx):
            if self.seen.value() is None:
                self.seen.update(True)
                yield row

    return FirstSeen()


def job_options(settings: Settings, checkpoint_root: Path, restore_from: Path | None, name: str) -> dict[str, str]:
    """Flink configuration of the job (checkpointing, recovery, restarts, Python workers)."""
    options = {
        "pipeline.name": name,
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "parallelism.default": str(settings.flink_parallelism),
        "table.local-time-zone": "UTC",
        "table.exec.state.ttl": f"{settings.flink_dedup_ttl_s}s",
        "execution.checkpointing.interval": f"{settings.flink_checkpoint_interval_s}s",
        "execution.checkpointing.dir": checkpoint_root.as_uri(),
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.num-retained": "2",
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": str(settings.flink_restart_attempts),
        "restart-strategy.fixed-delay.delay": "5s",
    }
    if restore_from is not None:
        options["execution.state-recovery.path"] = restore_from.as_uri()
    return options


def build(settings: Settings, checkpoint_root: Path, restore_from: Path | None, stop_offsets: dict[int, int] | None):
    """The table environment and the statement set of the landing job (nothing is submitted yet)."""
    from pyflink.common.typeinfo import Types
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import DataTypes, StreamTableEnvironment
    from pyflink.table.udf import udf

    from pyflink.common import Configuration, Row

    mode = BOUNDED if stop_offsets is not None else LONG_RUNNING
    options = job_options(settings, checkpoint_root, restore_from, f"movierec-feedback-landing ({mode})")
    config = Configuration()
    for key, value in options.items():
        config.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    t_env = StreamTableEnvironment.create(env)
    for key, value in options.items():
        t_env.get_config().set(key, value)
    landed_types = {
        "schema_version": Types.INT(), "event_id": Types.STRING(), "user_id": Types.LONG(),
        "movie_id": Types.LONG(), "event": Types.STRING(), "ts": Types.LONG(), "source": Types.STRING(),
        "kafka_partition": Types.INT(), "kafka_offset": Types.LONG(),
    }  # fmt: skip
    result_type = DataTypes.ROW([DataTypes.FIELD(n, getattr(DataTypes, t)()) for n, t in PARSED_TYPE])
    skew = settings.max_future_skew_s
    parse_click = udf(lambda payload: Row(*classify(payload, skew)), result_type=result_type)
    t_env.create_temporary_function("parse_click", parse_click)
    for statement in ddl(settings, stop_offsets) + list(QUERIES.values()):
        t_env.execute_sql(statement)
    # one DataStream node behind both the DLQ and the landing branch: the source and the UDF run once
    t_env.create_temporary_view("checked", t_env.from_data_stream(t_env.to_data_stream(t_env.from_path("flat"))))
    for statement in CHECKED_VIEWS:
        t_env.execute_sql(statement)
    valid = t_env.from_path("valid")
    names = valid.get_schema().get_field_names()
    row_type = Types.ROW_NAMED(names, [landed_types[n] for n in names])
    landed = (
        t_env.to_data_stream(valid)
        .key_by(lambda row: row[1], key_type=Types.STRING())
        .process(first_seen_function(settings.flink_dedup_ttl_s), output_type=row_type)
    )
    t_env.create_temporary_view("landed", t_env.from_data_stream(landed))
    statements = t_env.create_statement_set()
    for key in ("dlq", "files", "pg"):
        if key != "pg" or settings.feedback_postgres_url:
            statements.add_insert_sql(INSERTS[key])
    return t_env, statements


def run(settings: Settings, mode: str, stop_offsets: dict[int, int] | None, status_file: Path | None,
        fresh: bool = False) -> None:  # fmt: skip
    """Submit the job and block until it ends (bounded) or forever (long-running)."""
    os.environ.setdefault("JAVA_HOME", java_home())
    os.environ["JVM_ARGS"] = f"-Xmx{settings.flink_jvm_heap}"  # local mode ignores taskmanager memory options
    settings.feedback_dir.mkdir(parents=True, exist_ok=True)
    if settings.feedback_postgres_url:
        store.ensure_table(settings.feedback_postgres_url, settings.feedback_postgres_table)
    if mode == BOUNDED:
        checkpoint_root = settings.flink_checkpoint_dir / "bounded" / f"run-{os.getpid()}-{int(time.time())}"
        restore_from = None
    else:
        checkpoint_root = settings.flink_checkpoint_dir / "landing"
        restore_from = None if fresh else latest_checkpoint(checkpoint_root)
    checkpoint_root.mkdir(parents=True, exist_ok=True)
    if restore_from is not None:
        prune_checkpoints(checkpoint_root, restore_from)
    t_env, statements = build(settings, checkpoint_root, restore_from, stop_offsets)
    result = statements.execute()
    job_id = str(result.get_job_client().get_job_id())
    print(f"submitted job {job_id} mode={mode} restored_from={restore_from}", flush=True)
    if status_file is not None:
        status = {"pid": os.getpid(), "job_id": job_id, "mode": mode, "restored_from": str(restore_from or "")}
        status_file.write_text(json.dumps(status))
    result.wait()
    if mode == BOUNDED:
        shutil.rmtree(checkpoint_root, ignore_errors=True)
    print(f"job {job_id} finished", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", type=Path, required=True, help="JSON dump of pipelines.settings.Settings")
    parser.add_argument("--mode", choices=(LONG_RUNNING, BOUNDED), default=LONG_RUNNING)
    parser.add_argument("--stop-offsets", type=json.loads, help='bounded mode: {"0": 42, ...}')
    parser.add_argument("--status-file", type=Path)
    parser.add_argument("--fresh", action="store_true", help="ignore retained checkpoints")
    args = parser.parse_args(argv)
    settings = Settings(**json.loads(args.settings.read_text()))
    stop = {int(p): int(o) for p, o in args.stop_offsets.items()} if args.stop_offsets is not None else None
    if (args.mode == BOUNDED) != (stop is not None):
        parser.error("--stop-offsets is required in bounded mode and only there")
    run(settings, args.mode, stop, args.status_file, fresh=args.fresh)


if __name__ == "__main__":
    main()
