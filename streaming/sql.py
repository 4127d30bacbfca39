"""The landing job's Flink SQL: source and sink tables, the checked/valid/rejected views, dedup and inserts.

The file sink's columns are the landed-feedback contract (pipelines.landed.LANDED_FIELDS, read by
pipelines.feedback); the validation views that feed `checked` are in streaming.fast_path and streaming.fallback.
"""

from __future__ import annotations

from pipelines import landed
from pipelines.settings import Settings


def offsets_spec(offsets: dict[int, int]) -> str:
    """Stop offsets in the Kafka connector's scan.bounded.specific-offsets syntax."""
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
            ) WITH ('connector' = 'jdbc', 'url' = '{landed.jdbc_url(settings.feedback_postgres_url)}',
                'table-name' = '{landed.checked_table(settings.feedback_postgres_table)}',
                'sink.buffer-flush.interval' = '1s', 'sink.buffer-flush.max-rows' = '2000', 'sink.max-retries' = '5')"""
        )
    return statements


FIELDS = ", ".join(landed.LANDED_FIELDS)
CHECKED_COLUMNS = (
    "payload, kafka_partition, kafka_offset, ok, reason, checked_at, "
    "schema_version, event_id, user_id, movie_id, event, ts, source, request_id"
)


def slow_checked_sql(prefix: str = "", carry: tuple[str, ...] = (), udf: str = "parse_click") -> str:
    """The `slow_checked` view: parse_event's verdict (the `udf` Python function) on `slow_input`'s payloads."""
    extra = "".join(f", {c}" for c in carry)
    return f"""CREATE TEMPORARY VIEW {prefix}slow_checked AS
    SELECT payload, kafka_partition, kafka_offset, r.ok AS ok,
        CASE WHEN r.ok THEN CAST(NULL AS STRING) ELSE r.reason END AS reason, r.checked_at AS checked_at,
        CASE WHEN r.ok THEN r.schema_version END AS schema_version, CASE WHEN r.ok THEN r.event_id END AS event_id,
        CASE WHEN r.ok THEN r.user_id END AS user_id, CASE WHEN r.ok THEN r.movie_id END AS movie_id,
        CASE WHEN r.ok THEN r.event END AS event, CASE WHEN r.ok THEN r.ts END AS ts,
        CASE WHEN r.ok THEN r.source END AS source,
        CASE WHEN r.ok AND r.request_id <> '' THEN r.request_id END AS request_id{extra}
    FROM (SELECT payload, kafka_partition, kafka_offset, {udf}(payload) AS r{extra} FROM {prefix}slow_input)"""


SLOW_CHECKED = slow_checked_sql()
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
