"""The PyFlink 2.0 landing job (Table API, local mini-cluster): Kafka clicks -> validate -> DLQ | dedup -> store.

Runs in the Flink env: `.venvs/flink/bin/python -m streaming.job --settings <json> --mode long-running|bounded`.
Launch it through `infra.flink_job`, which builds the settings file and manages the process.

- parse + validate: canonical payloads (what ClickEvent.to_json_bytes() writes) in Flink SQL, every other
  payload with pipelines.events.parse_event in a Python UDF (see fast_path_sql); invalid payloads go to the DLQ
  topic with parse_event's reason;
- de-duplicate by event_id with Flink's keep-first-row Deduplicate (TTL settings.flink_dedup_ttl_s), append-only;
- land into date-partitioned JSON-lines files (auto-compaction: each checkpoint commits one file per dt and
  subtask) and, when configured, a JDBC upsert keyed on event_id;
- checkpoints every settings.flink_checkpoint_interval_s, retained; a fresh process restores from the
  latest retained checkpoint; fixed-delay restart strategy with settings.flink_restart_attempts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import sysconfig
import time
import typing
from pathlib import Path

from pipelines import landed as store
from pipelines.events import ClickEvent, InvalidEvent, parse_event
from pipelines.settings import PROJECT_ROOT, Settings

LONG_RUNNING, BOUNDED = "long-running", "bounded"
# retained checkpoints of the long-running job live under flink_checkpoint_dir/<this>; bump it whenever the
# job graph changes incompatibly (state of another graph cannot be restored; the new graph then starts from
# the consumer group's committed offsets). v2: SQL validation fast path + SQL Deduplicate.
LANDING_CHECKPOINTS = "landing-v2"
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
    return (
        True,
        None,
        now_ms,
        e.schema_version,
        str(e.event_id),
        e.user_id,
        e.movie_id,
        e.event,
        e.ts,
        e.source,
    )


# Thread mode (pemja) cannot hand NULL INT/BIGINT fields of a ROW back to the JVM (NPE in Flink 2.0.0's
# PythonTypeUtils.IntDataConverter), so the UDF fills the unused fields with these and SLOW_CHECKED puts the
# NULLs back.
NULL_STAND_INS = {"BOOLEAN": False, "STRING": "", "INT": 0, "BIGINT": 0}


def classify_without_nulls(payload: str | None, max_future_skew_s: int) -> tuple:
    """classify() with stand-ins for None (see NULL_STAND_INS)."""
    values = classify(payload, max_future_skew_s)
    return tuple(NULL_STAND_INS[t] if v is None else v for v, (_, t) in zip(values, PARSED_TYPE, strict=True))


# --- SQL fast path -------------------------------------------------------------------------------------------
# The canonical payload (exactly what ClickEvent.to_json_bytes() / model_dump_json() writes: compact JSON, every
# field in declaration order, canonical values) is recognised by one regular expression and converted in Flink
# SQL (JVM, no Python). Anything else (whitespace, another key order, lax forms pydantic coerces such as "3" or
# true for an int, an upper-case UUID, escapes, missing fields with defaults, 10-digit ids, ...) and every
# invalid payload goes to the Python fallback, i.e. parse_event itself. The fast path accepts a strict subset
# of what parse_event accepts, with the same normalised values; the only rule it decides itself is the
# future-ts check, with parse_event's reason text. The regex is derived from ClickEvent, so the schema stays
# the single source of truth; tests/streaming/test_validation_parity.py runs a good/bad corpus through this SQL
# (in Flink) and through parse_event and asserts identical decisions, reasons and values.

_END = r"(?![\s\S])"  # absolute end of input in both Java and Python regex ($ allows a final line terminator)
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # str(uuid.UUID) form only
_SAFE_CHAR = (
    r"[\x20\x21\x23-\x5b\x5d-\x7e]"  # printable ASCII but '"' and '\': no escapes, 1 char = 1 code point
)
_ID_DIGITS = 9  # 1..999,999,999 always <= MAX_ID; 10-digit ids take the fallback
_TS_DIGITS = 13  # epoch ms up to year 2286; longer values are in the future anyway (-> fallback -> rejected)


def _field_constraint(name: str, kind: str) -> int:
    """A ge/le/min_length/max_length constraint of a ClickEvent field (KeyError if the schema lost it)."""
    for meta in ClickEvent.model_fields[name].metadata:
        if hasattr(meta, kind):
            return getattr(meta, kind)
    raise KeyError(f"ClickEvent.{name} has no {kind} constraint")


def fast_path_spec() -> dict[str, typing.Any]:
    """The canonical payload as a regex, and where each value sits once the payload is split on '"'.

    No value the regex admits contains '"', so splitting a matching payload on '"' yields fixed tokens:
    strings are whole tokens, numbers are tokens like ':42,' (':' before and ',' after the digits).
    """
    fields = list(ClickEvent.model_fields)
    expected = ["schema_version", "event_id", "user_id", "movie_id", "event", "ts", "source"]
    if fields != expected:  # a new or reordered field: the generator below must be taught about it
        raise RuntimeError(f"ClickEvent fields changed ({fields}); update streaming.job.fast_path_spec")
    (version,) = typing.get_args(ClickEvent.model_fields["schema_version"].annotation)
    events = typing.get_args(ClickEvent.model_fields["event"].annotation)
    for name in ("user_id", "movie_id"):
        if _field_constraint(name, "ge") != 1 or _field_constraint(name, "le") < 10**_ID_DIGITS - 1:
            raise RuntimeError(f"ClickEvent.{name} range changed; update streaming.job.fast_path_spec")
    if _field_constraint("ts", "ge") != 0 or _field_constraint("source", "min_length") != 1:
        raise RuntimeError("ClickEvent ts/source constraints changed; update streaming.job.fast_path_spec")
    strings = {
        "event_id": _UUID,
        "event": "(?:" + "|".join(re.escape(e) for e in events) + ")",
        "source": f"{_SAFE_CHAR}{{1,{_field_constraint('source', 'max_length')}}}",
    }
    numbers = {
        "schema_version": re.escape(str(version)),
        "user_id": f"[1-9][0-9]{{0,{_ID_DIGITS - 1}}}",
        "movie_id": f"[1-9][0-9]{{0,{_ID_DIGITS - 1}}}",
        "ts": f"(?:0|[1-9][0-9]{{0,{_TS_DIGITS - 1}}})",
    }
    members, tokens, position = [], {}, 0  # token 0 is '{'
    for name in fields:
        if name in strings:  # "name":"value" -> tokens: name, ':', value, then ',' or '}'
            members.append(f'"{name}":"{strings[name]}"')
            tokens[name] = ("string", position + 3)
            position += 4
        else:  # "name":123, -> tokens: name, ':123,'
            if name == fields[-1]:
                raise RuntimeError(
                    "a number as the last field would end in '}'; update streaming.job.fast_path_spec"
                )
            members.append(f'"{name}":{numbers[name]}')
            tokens[name] = ("number", position + 2)
            position += 2
    regex = "^\\{" + ",".join(members) + "\\}" + _END
    return {"regex": regex, "tokens": tokens, "schema_version": version}


def split_fast_payload(payload: str) -> dict[str, str]:
    """Python twin of the SQL extraction (SPLIT_INDEX on '"'), for tests: {field: text of its value}."""
    parts = payload.split('"')
    return {name: parts[i] if kind == "string" else parts[i][1:].replace(",", "")
            for name, (kind, i) in fast_path_spec()["tokens"].items()}  # fmt: skip


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def fast_path_sql(source: str, skew_s: int) -> dict[str, str]:
    """CREATE VIEW statements: `fast_checked` (canonical payloads, decided in SQL) and `slow_input` (the rest).

    `is_fast` is deterministic (one REGEXP), so the two views are exact complements even though each evaluates
    it; the clock is read once per row, inside fast_checked. Values are cut out with SPLIT_INDEX (cheap) rather
    than one REGEXP_EXTRACT per field.
    """
    spec = fast_path_spec()
    is_fast = f"COALESCE(REGEXP(payload, {_sql_str(spec['regex'])}), FALSE)"

    def value(name: str) -> str:
        kind, i = spec["tokens"][name]
        token = f"SPLIT_INDEX(payload, '\"', {i})"
        return token if kind == "string" else f"REPLACE(SUBSTRING({token} FROM 2), ',', '')"

    in_future = f"TO_TIMESTAMP_LTZ(ts, 3) > TIMESTAMPADD(SECOND, {int(skew_s)}, CURRENT_ROW_TIMESTAMP())"
    return {
        "fast_fields": f"""CREATE TEMPORARY VIEW fast_fields AS
            SELECT payload, kafka_partition, kafka_offset, CAST({spec["schema_version"]} AS INT) AS schema_version,
                {value("event_id")} AS event_id, CAST({value("user_id")} AS BIGINT) AS user_id,
                CAST({value("movie_id")} AS BIGINT) AS movie_id, {value("event")} AS event,
                CAST({value("ts")} AS BIGINT) AS ts, {value("source")} AS source
            FROM {source} WHERE {is_fast}""",
        "fast_checked": f"""CREATE TEMPORARY VIEW fast_checked AS
            SELECT payload, kafka_partition, kafka_offset, ok,
                CASE WHEN ok THEN CAST(NULL AS STRING)
                     ELSE 'ts ' || CAST(ts AS STRING) || ' is more than {int(skew_s)}s in the future' END AS reason,
                UNIX_TIMESTAMP() * 1000 AS checked_at, schema_version, event_id, user_id, movie_id, event, ts, source
            FROM (SELECT *, NOT ({in_future}) AS ok FROM fast_fields)""",
        "slow_input": f"""CREATE TEMPORARY VIEW slow_input AS
            SELECT payload, kafka_partition, kafka_offset FROM {source} WHERE NOT {is_fast}""",
    }


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
            kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL
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
            'format' = 'json', 'auto-compaction' = 'true', 'compaction.file-size' = '64MB', 'sink.parallelism' = '1',
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
CHECKED_COLUMNS = (
    "payload, kafka_partition, kafka_offset, ok, reason, checked_at, "
    "schema_version, event_id, user_id, movie_id, event, ts, source"
)
SLOW_CHECKED = """CREATE TEMPORARY VIEW slow_checked AS
    SELECT payload, kafka_partition, kafka_offset, r.ok AS ok,
        CASE WHEN r.ok THEN CAST(NULL AS STRING) ELSE r.reason END AS reason, r.checked_at AS checked_at,
        CASE WHEN r.ok THEN r.schema_version END AS schema_version, CASE WHEN r.ok THEN r.event_id END AS event_id,
        CASE WHEN r.ok THEN r.user_id END AS user_id, CASE WHEN r.ok THEN r.movie_id END AS movie_id,
        CASE WHEN r.ok THEN r.event END AS event, CASE WHEN r.ok THEN r.ts END AS ts,
        CASE WHEN r.ok THEN r.source END AS source
    FROM (SELECT payload, kafka_partition, kafka_offset, parse_click(payload) AS r FROM slow_input)"""
ALL_CHECKED = f"""SELECT {CHECKED_COLUMNS} FROM fast_checked
    UNION ALL SELECT {CHECKED_COLUMNS} FROM slow_checked"""
CHECKED_VIEWS = [
    f"CREATE TEMPORARY VIEW valid AS SELECT {FIELDS}, pt FROM checked WHERE ok",
    "CREATE TEMPORARY VIEW rejected AS SELECT * FROM checked WHERE NOT ok",
]
# keep-first-row on the processing-time attribute `pt`: runs as Flink's Deduplicate(keep=FirstRow, PROCTIME)
# (JVM keyed state, TTL table.exec.state.ttl), which only ever emits inserts
FIRST_SEEN = f"""SELECT {FIELDS} FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY pt ASC) AS rn FROM valid) WHERE rn = 1"""
INSERTS = {
    "dlq": """INSERT INTO dlq SELECT reason, payload, kafka_partition, kafka_offset, checked_at FROM rejected""",
    "files": f"""INSERT INTO feedback_files SELECT {FIELDS},
        DATE_FORMAT(TO_TIMESTAMP_LTZ(ts, 3), 'yyyy-MM-dd') AS dt FROM landed""",
    "pg": f"INSERT INTO feedback_pg SELECT {FIELDS} FROM landed",
}


LOCAL_HOST = "127.0.0.1"


def job_options(
    settings: Settings, checkpoint_root: Path, restore_from: Path | None, name: str
) -> dict[str, str]:
    """Flink configuration of the job (checkpointing, recovery, restarts, Python workers)."""
    options = {
        "pipeline.name": name,
        "pipeline.object-reuse": "true",
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
        # the local mini-cluster's servers (RPC, blob, REST, shuffle) listen on loopback only; a remote
        # cluster ignores these job-level values
        "jobmanager.bind-host": LOCAL_HOST,
        "taskmanager.bind-host": LOCAL_HOST,
        "taskmanager.host": LOCAL_HOST,
        "rest.bind-address": LOCAL_HOST,
        # Python UDFs run embedded in the JVM (pemja): no Beam gRPC servers, which bind all interfaces
        "python.execution-mode": "thread",
        # the embedded interpreter does not read this venv's site-packages or its .pth files by itself
        "python.pythonpath": os.pathsep.join([sysconfig.get_paths()["purelib"], str(PROJECT_ROOT)]),
    }
    if restore_from is not None:
        options["execution.state-recovery.path"] = restore_from.as_uri()
    return options


def table_env(options: dict[str, str]):
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    # PyFlink starts a "loopback" Beam worker pool for local runs, bound to [::] (hard-coded); thread mode
    # never uses it, and this (PyFlink-internal) switch keeps it from starting
    os.environ["_PYTHON_WORKER_EXECUTION_MODE"] = "process"
    config = Configuration()
    for key, value in options.items():
        config.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    t_env = StreamTableEnvironment.create(env)
    for key, value in options.items():
        t_env.get_config().set(key, value)
    return t_env


def register_checked(t_env, source: str, skew_s: int) -> None:
    """View `checked` (CHECKED_COLUMNS + proctime `pt`) over `source` (payload, kafka_partition, kafka_offset).

    SQL fast path + parse_event fallback (Python UDF, sees only non-canonical payloads), unioned and put behind
    one DataStream node: the clock-dependent decisions are taken once per record and both the DLQ and the
    landing branch read the same result. `pt` is declared on that node, so ROW_NUMBER() ... ORDER BY pt is a
    time-attribute Deduplicate (append-only) rather than an updating Rank.
    """
    from pyflink.common import Row
    from pyflink.table import DataTypes, Schema
    from pyflink.table.udf import udf

    result_type = DataTypes.ROW([DataTypes.FIELD(n, getattr(DataTypes, t)()) for n, t in PARSED_TYPE])
    parse_click = udf(lambda payload: Row(*classify_without_nulls(payload, skew_s)), result_type=result_type)
    t_env.create_temporary_function("parse_click", parse_click)
    for statement in list(fast_path_sql(source, skew_s).values()) + [SLOW_CHECKED]:
        t_env.execute_sql(statement)
    stream = t_env.to_data_stream(t_env.sql_query(ALL_CHECKED))
    schema = Schema.new_builder().column_by_expression("pt", "PROCTIME()").build()
    t_env.create_temporary_view("checked", t_env.from_data_stream(stream, schema))


def register_landed(t_env) -> None:
    """View `landed`: `valid` de-duplicated by event_id (first row wins), as an insert-only table.

    Flink 2.0.0's planner declares every Rank, including this proctime keep-first-row one, as producing
    updates (fixed upstream by FLINK-37005 in 2.1), so the insert-only file and Kafka sinks reject it. The
    operator it runs (ProcTimeDeduplicateKeepFirstRowFunction) only ever emits inserts; the changelog stream
    is re-read as insert-only, and Flink's input conversion fails the job on any non-INSERT row instead of
    letting it through.
    """
    changelog = t_env.to_changelog_stream(t_env.sql_query(FIRST_SEEN))
    t_env.create_temporary_view("landed", t_env.from_data_stream(changelog))


def build(
    settings: Settings, checkpoint_root: Path, restore_from: Path | None, stop_offsets: dict[int, int] | None
):
    """The table environment and the statement set of the landing job (nothing is submitted yet)."""
    mode = BOUNDED if stop_offsets is not None else LONG_RUNNING
    t_env = table_env(
        job_options(settings, checkpoint_root, restore_from, f"movierec-feedback-landing ({mode})")
    )
    for statement in ddl(settings, stop_offsets):
        t_env.execute_sql(statement)
    register_checked(t_env, "clicks_raw", settings.max_future_skew_s)
    for statement in CHECKED_VIEWS:
        t_env.execute_sql(statement)
    register_landed(t_env)
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
        checkpoint_root = settings.flink_checkpoint_dir / LANDING_CHECKPOINTS
        restore_from = None if fresh else latest_checkpoint(checkpoint_root)
    checkpoint_root.mkdir(parents=True, exist_ok=True)
    if restore_from is not None:
        prune_checkpoints(checkpoint_root, restore_from)
    t_env, statements = build(settings, checkpoint_root, restore_from, stop_offsets)
    result = statements.execute()
    job_id = str(result.get_job_client().get_job_id())
    print(f"submitted job {job_id} mode={mode} restored_from={restore_from}", flush=True)
    if status_file is not None:
        status = {
            "pid": os.getpid(),
            "job_id": job_id,
            "mode": mode,
            "restored_from": str(restore_from or ""),
        }
        status_file.write_text(json.dumps(status))
    result.wait()
    if mode == BOUNDED:
        shutil.rmtree(checkpoint_root, ignore_errors=True)
    print(f"job {job_id} finished", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--settings", type=Path, required=True, help="JSON dump of pipelines.settings.Settings"
    )
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
