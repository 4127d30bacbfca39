"""The online job's Flink SQL: impressions + clicks (event time) -> attributed CTR per window and arm, trending.

Everything here runs in the JVM except parse_impression / parse_event for non-canonical payloads (Python UDFs,
the same fallback rule as the landing job). streaming.online_graph wires the statements together.

Time: the source (long-running: one for both topics; bounded: one per topic) declares `rowtime` from the
payload's `ts` (a computed column, so invalid payloads get 0 and a ts more than max_future_skew_s ahead also 0:
one bad clock cannot push the watermark into the future) and a watermark `FLOOR(rowtime TO SECOND) -
online_allowed_lateness_s`, generated per Kafka partition and emitted on every event that advances it (the
floor: at most one per second of event time, not one per event).
An event whose rowtime is at or before the watermark when it is read is LATE: it is left out of every window
and written to the dead-letter topic with kind 'late' (the counter); every other event is counted exactly once
(the rules that make the windows agree with that decision are above ON_TIME; their limits: docs/streaming.md).
"""

from __future__ import annotations

import re
import typing

from pipelines import landed
from pipelines.events import MAX_ID
from pipelines.impressions import MAX_ITEMS, MAX_LABEL, ImpressionEvent
from pipelines.online_metrics import METRIC_FIELDS, METRIC_KEY, UNATTRIBUTED
from pipelines.settings import Settings
from pipelines.watermark_ticks import sql_is_tick
from streaming.fast_path import _END, _SAFE_CHAR, _UUID, _sql_str, fast_path_sql
from streaming.sql import offsets_spec, slow_checked_sql

UNKNOWN_REQUEST = "unknown_request"  # strategy: the click's request_id matches no impression (in time)
NO_IMPRESSION = "no_impression"  # strategy: no request_id and no impression of that movie for the user
IMPRESSION_TYPE = (
    ("ok", "BOOLEAN"), ("reason", "STRING"), ("request_id", "STRING"), ("user_id", "BIGINT"),
    ("model_name", "STRING"), ("model_version", "STRING"), ("variant", "STRING"), ("strategy", "STRING"),
    ("items", "STRING"), ("ts", "BIGINT"),
)  # fmt: skip


def online_table(settings: Settings) -> str:
    """PostgreSQL table of the window rows (settings.online_postgres_table, checked: it is interpolated into SQL)."""
    return landed.checked_table(settings.online_postgres_table)


def online_table_ddl(table: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {landed.checked_table(table)} (
        window_start bigint NOT NULL, window_end bigint NOT NULL, model_name text NOT NULL,
        model_version text NOT NULL, variant text NOT NULL, strategy text NOT NULL, impressions bigint NOT NULL,
        clicks bigint NOT NULL, clicks_at_10 bigint NOT NULL, ctr_at_10 double precision,
        mean_clicked_position double precision, landed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (window_start, model_version, variant, strategy))"""


def impression_regex() -> str:
    """The canonical ImpressionEvent payload (ImpressionEvent.to_json_bytes()) as one regex."""
    fields = list(ImpressionEvent.model_fields)
    expected = ["schema_version", "request_id", "user_id", "model_name", "model_version", "variant", "strategy",
                "items", "ts"]  # fmt: skip
    if fields != expected:
        raise RuntimeError(f"ImpressionEvent fields changed ({fields}); update streaming.online_sql")
    (version,) = typing.get_args(ImpressionEvent.model_fields["schema_version"].annotation)
    variants = typing.get_args(ImpressionEvent.model_fields["variant"].annotation)
    strategies = typing.get_args(ImpressionEvent.model_fields["strategy"].annotation)
    one_of = lambda values: "(?:" + "|".join(re.escape(v) for v in values) + ")"  # noqa: E731
    ident = "[1-9][0-9]{0,8}"  # 9 digits <= MAX_ID
    assert MAX_ID >= 10**9 - 1
    label = f"{_SAFE_CHAR}{{1,{MAX_LABEL}}}"
    return (
        f'^\\{{"schema_version":{version},"request_id":"{_UUID}","user_id":{ident},"model_name":"{label}",'
        f'"model_version":"{label}","variant":"{one_of(variants)}","strategy":"{one_of(strategies)}",'
        f'"items":\\[(?:{ident}(?:,{ident}){{0,{MAX_ITEMS - 1}}})?\\],"ts":(?:0|[1-9][0-9]{{0,12}})\\}}{_END}'
    )


def _seconds(n: int) -> str:
    """An interval literal of n seconds (the default leading precision, 2 digits, rejects 120)."""
    return f"INTERVAL '{int(n)}' SECOND({max(2, len(str(int(n))))})"


def _kafka(settings: Settings) -> str:
    return f"'connector' = 'kafka', 'properties.bootstrap.servers' = '{settings.kafka_bootstrap}'"


def idle_timeout_s(settings: Settings) -> int:
    """After this long without a record a partition no longer holds the watermark back. With watermark ticks it
    is a fallback for a stalled ticker (a broker outage), so it is long; without, it decides how soon windows
    close after traffic stops (the corners this leaves: docs/streaming.md, Known limits)."""
    floor = 30 if settings.watermark_tick_s > 0 else 5
    return max(settings.online_allowed_lateness_s, floor)


def _source(
    settings: Settings, name: str, topics: list[str], stop: dict[int, int] | None, long_running: bool
) -> str:
    """A Kafka source of `topics` (`topic` column: which one) with the rowtime and watermark of the module doc."""
    bounded = (
        f", 'scan.bounded.mode' = 'specific-offsets', 'scan.bounded.specific-offsets' = '{offsets_spec(stop)}'"
        if stop is not None
        else ""
    )
    idle = f", 'scan.watermark.idle-timeout' = '{idle_timeout_s(settings)}s'" if long_running else ""
    skew_ms = settings.max_future_skew_s * 1000
    raw_ts = "COALESCE(TRY_CAST(JSON_VALUE(payload, '$.ts') AS BIGINT), CAST(0 AS BIGINT))"
    return f"""CREATE TEMPORARY TABLE {name} (
        payload STRING,
        topic STRING METADATA FROM 'topic' VIRTUAL,
        kafka_partition INT METADATA FROM 'partition' VIRTUAL,
        kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL,
        rowtime AS TO_TIMESTAMP_LTZ(CASE WHEN {raw_ts} < 0 OR {raw_ts} > UNIX_TIMESTAMP() * 1000 + {skew_ms}
            THEN CAST(0 AS BIGINT) ELSE {raw_ts} END, 3),
        WATERMARK FOR rowtime AS FLOOR(rowtime TO SECOND) - {_seconds(settings.online_allowed_lateness_s)}
    ) WITH ({_kafka(settings)}, 'topic' = '{";".join(topics)}', 'format' = 'raw',
        'properties.group.id' = '{settings.flink_online_consumer_group}',
        'scan.startup.mode' = 'group-offsets', 'properties.auto.offset.reset' = 'earliest',
        'properties.commit.offsets.on.checkpoint' = 'true', 'scan.watermark.emit.strategy' = 'on-event'{idle}{bounded})"""


def sources(settings: Settings, stop: dict[str, dict[int, int]] | None) -> list[str]:
    """Long-running: ONE source table over both topics (`online_raw`), so one watermark decides lateness for
    every operator (see ON_TIME below). Bounded: one per topic (`impressions_raw`, `online_clicks_raw`), because
    the connector takes specific stop offsets for a single topic only; a bounded run marks nothing idle, so every
    operator's watermark is the minimum of the two sources' and never passes an event its own source let through.
    """
    if stop is None:
        return [
            _source(settings, "online_raw", [settings.impressions_topic, settings.clicks_topic], None, True)
        ]
    return [
        _source(settings, "impressions_raw", [settings.impressions_topic], stop["impressions"], False),
        _source(settings, "online_clicks_raw", [settings.clicks_topic], stop["clicks"], False),
    ]


def ddl(settings: Settings, stop: dict[str, dict[int, int]] | None) -> list[str]:
    """Sources (impressions, clicks), the DLQ, the metric file sink, the trending topic and the optional JDBC sink."""
    interval = f"{settings.flink_checkpoint_interval_s}s"
    metric_columns = """window_start BIGINT, window_end BIGINT, model_name STRING, model_version STRING,
        variant STRING, strategy STRING, impressions BIGINT, clicks BIGINT, clicks_at_10 BIGINT, ctr_at_10 DOUBLE,
        mean_clicked_position DOUBLE"""
    statements = sources(settings, stop) + [
        f"""CREATE TEMPORARY TABLE online_dlq (
            reason STRING, payload STRING, kafka_partition INT, kafka_offset BIGINT, rejected_at BIGINT,
            topic STRING, kind STRING
        ) WITH ({_kafka(settings)}, 'topic' = '{settings.dlq_topic}', 'format' = 'json',
            'sink.delivery-guarantee' = 'at-least-once')""",
        f"""CREATE TEMPORARY TABLE online_files ({metric_columns}, dt STRING) PARTITIONED BY (dt)
            WITH ('connector' = 'filesystem', 'path' = '{settings.online_metrics_dir.as_uri()}', 'format' = 'json',
            'auto-compaction' = 'true', 'compaction.file-size' = '64MB', 'sink.parallelism' = '1',
            'sink.rolling-policy.rollover-interval' = '{interval}', 'sink.rolling-policy.check-interval' = '1s')""",
        f"""CREATE TEMPORARY TABLE trending (
            movie_key STRING, movie_id BIGINT, clicks BIGINT, likes BIGINT, window_end BIGINT
        ) WITH ({_kafka(settings)}, 'topic' = '{settings.trending_topic}', 'key.format' = 'raw',
            'key.fields' = 'movie_key', 'value.format' = 'json', 'value.fields-include' = 'EXCEPT_KEY',
            'sink.delivery-guarantee' = 'at-least-once')""",
    ]
    if settings.feedback_postgres_url:
        statements.append(
            f"""CREATE TEMPORARY TABLE online_pg ({metric_columns},
                PRIMARY KEY ({", ".join(METRIC_KEY)}) NOT ENFORCED
            ) WITH ('connector' = 'jdbc', 'url' = '{landed.jdbc_url(settings.feedback_postgres_url)}',
                'table-name' = '{online_table(settings)}', 'sink.buffer-flush.interval' = '1s',
                'sink.buffer-flush.max-rows' = '500', 'sink.max-retries' = '5')"""
        )
    return statements


# Decided right after the source, before any union, against the watermark every later operator follows. Two
# rules make that hold. (1) Long-running, both topics are read by ONE source (streaming.online_sql.sources): with a
# source per topic, an operator behind both follows the other source's watermark while one is idle, and an event
# of the resumed source that is on time for its own watermark was dropped there without being counted.
# (2) Every event reaches the window aggregates through ONE temporal join (attribution_views): when the whole job
# has been idle and time moves on again, a second path (the impressions' own, or the other join's) could carry the
# new watermark to the windows before the join released the events it held back until that watermark, and the
# windows dropped them as late, silently (issue 14: all the clicks of a demo scenario, numLateRecordsDropped).
# Both need one instance per operator: the job runs at settings.flink_online_parallelism (default 1).
ON_TIME = "on_time"
LATE_REASON = "'late: ts ' || CAST(ts AS STRING) || ' is at or before the watermark ' || CAST(wm AS STRING)"
TIMED = ("rowtime", "on_time", "wm")  # carried from the timed_* views through validation


def timed_view(name: str, source: str, topic: str | None = None) -> str:
    """`source` (only `topic`'s records, if given; never watermark ticks, which have done their job once the
    source has taken their ts) + on_time (rowtime after the current watermark) + wm (the watermark, epoch ms)."""
    where = f" WHERE NOT {sql_is_tick()}" + (f" AND topic = '{topic}'" if topic is not None else "")
    return f"""CREATE TEMPORARY VIEW {name} AS
        SELECT payload, kafka_partition, kafka_offset, rowtime,
            COALESCE(rowtime > CURRENT_WATERMARK(rowtime), TRUE) AS on_time,
            UNIX_TIMESTAMP(DATE_FORMAT(CURRENT_WATERMARK(rowtime), 'yyyy-MM-dd HH:mm:ss')) * 1000 AS wm
        FROM {source}{where}"""


def timed_views(settings: Settings, bounded: bool) -> list[str]:
    """impressions_timed and clicks_timed, from the sources of `sources` (the same columns in both modes)."""
    if bounded:
        return [
            timed_view("impressions_timed", "impressions_raw"),
            timed_view("clicks_timed", "online_clicks_raw"),
        ]
    return [
        timed_view("impressions_timed", "online_raw", settings.impressions_topic),
        timed_view("clicks_timed", "online_raw", settings.clicks_topic),
    ]


def shown_key(user: str, movie: str) -> str:
    """The versioned-view key of a (user, movie) an impression showed: what a click without request_id joins."""
    return f"'m' || CAST({user} AS STRING) || ':' || CAST({movie} AS STRING)"


def impression_views() -> list[str]:
    """impressions_checked (canonical in SQL, the rest via parse_impression) -> on-time / late / rejected."""
    is_fast = f"COALESCE(REGEXP(payload, {_sql_str(impression_regex())}), FALSE)"
    arm = "items, model_name, model_version, variant, strategy, ts AS imp_ts, rowtime"
    return [
        f"""CREATE TEMPORARY VIEW imp_fast AS
            SELECT payload, kafka_partition, kafka_offset, TRUE AS ok, CAST(NULL AS STRING) AS reason,
                JSON_VALUE(payload, '$.request_id') AS request_id,
                CAST(JSON_VALUE(payload, '$.user_id') AS BIGINT) AS user_id,
                JSON_VALUE(payload, '$.model_name') AS model_name, JSON_VALUE(payload, '$.model_version') AS model_version,
                JSON_VALUE(payload, '$.variant') AS variant, JSON_VALUE(payload, '$.strategy') AS strategy,
                CAST(JSON_QUERY(payload, '$.items' RETURNING ARRAY<STRING>) AS ARRAY<BIGINT>) AS items,
                CAST(JSON_VALUE(payload, '$.ts') AS BIGINT) AS ts, rowtime, on_time, wm
            FROM impressions_timed WHERE {is_fast}""",
        f"""CREATE TEMPORARY VIEW imp_slow AS
            SELECT payload, kafka_partition, kafka_offset, r.ok AS ok,
                CASE WHEN r.ok THEN CAST(NULL AS STRING) ELSE r.reason END AS reason,
                r.request_id AS request_id, r.user_id AS user_id, r.model_name AS model_name,
                r.model_version AS model_version, r.variant AS variant, r.strategy AS strategy,
                CASE WHEN r.ok AND r.items <> '' THEN CAST(SPLIT(r.items, ',') AS ARRAY<BIGINT>) END AS items,
                r.ts AS ts, rowtime, on_time, wm
            FROM (SELECT payload, kafka_partition, kafka_offset, parse_impression(payload) AS r, rowtime, on_time, wm
                  FROM impressions_timed WHERE NOT {is_fast})""",
        """CREATE TEMPORARY VIEW imp_checked AS
            SELECT * FROM imp_fast UNION ALL SELECT * FROM imp_slow""",
        f"""CREATE TEMPORARY VIEW imp_on_time AS
            SELECT request_id, user_id, model_name, model_version, variant, strategy, items, ts, rowtime
            FROM imp_checked WHERE ok AND {ON_TIME}""",
        f"""CREATE TEMPORARY VIEW imp_rejected AS
            SELECT CASE WHEN ok THEN {LATE_REASON} ELSE reason END AS reason, payload, kafka_partition,
                kafka_offset, CASE WHEN ok THEN 'late' ELSE 'invalid' END AS kind
            FROM imp_checked WHERE NOT ok OR NOT {ON_TIME}""",
        # the latest impression per request ('r' || request_id: its items as an array) and per shown (user, movie)
        # ('m' || user_id || ':' || movie_id: its position) in one versioned view
        f"""CREATE TEMPORARY VIEW imp_versions AS
            SELECT * FROM (SELECT imp_key, item_position, {arm.replace("ts AS imp_ts", "imp_ts")},
                ROW_NUMBER() OVER (PARTITION BY imp_key ORDER BY rowtime DESC) AS rn
                FROM (SELECT 'r' || request_id AS imp_key, CAST(NULL AS INT) AS item_position, {arm}
                      FROM imp_on_time
                      UNION ALL SELECT {shown_key("user_id", "movie_id")}, ARRAY_POSITION(items, movie_id),
                          {arm.replace("items, ", "CAST(NULL AS ARRAY<BIGINT>) AS items, ")}
                      FROM imp_on_time CROSS JOIN UNNEST(items) AS shown(movie_id)))
            WHERE rn = 1""",
    ]


def click_views(settings: Settings) -> list[str]:
    """clicks validated like the landing job (SQL fast path + parse_event fallback) -> on-time / late."""
    carry = TIMED
    views = list(fast_path_sql("clicks_timed", settings.max_future_skew_s, carry, prefix="oc_").values())
    views.append(slow_checked_sql("oc_", carry, udf="parse_click"))
    columns = (
        "ok, event_id, user_id, movie_id, event, ts, request_id, payload, kafka_partition, kafka_offset, rowtime, "
        "on_time, wm"
    )
    return views + [
        f"""CREATE TEMPORARY VIEW clicks_checked AS
            SELECT {columns} FROM oc_fast_checked UNION ALL SELECT {columns} FROM oc_slow_checked""",
        f"""CREATE TEMPORARY VIEW clicks_on_time AS
            SELECT event_id, user_id, movie_id, event, ts, request_id, rowtime FROM clicks_checked
            WHERE ok AND {ON_TIME}""",
        f"""CREATE TEMPORARY VIEW clicks_late AS
            SELECT {LATE_REASON} AS reason, payload, kafka_partition, kafka_offset, 'late' AS kind
            FROM clicks_checked WHERE ok AND NOT {ON_TIME}""",
    ]


def attribution_views(settings: Settings) -> list[str]:
    """online_events: every on-time impression and click, the clicks attributed, out of ONE temporal join (rule
    (2) above). A click joins the impression of its request_id ('r' key) when it has one, else the latest
    impression that showed this movie to this user ('m' key), if that impression was at most attribution_window_s
    before the click; otherwise it counts as unattributed. Impressions go through the same join (under their own
    request's key, keeping their own arm) only so that they reach the windows on the same path as the clicks."""
    attribution_ms = settings.attribution_window_s * 1000
    position = "COALESCE(ARRAY_POSITION(i.items, c.movie_id), i.item_position)"
    shown = f"i.imp_key IS NOT NULL AND c.ts - i.imp_ts <= {attribution_ms} AND {position} > 0"

    def arm(column: str, unattributed: str) -> str:
        return (
            f"CASE WHEN c.is_impression THEN c.{column} WHEN {shown} THEN i.{column} ELSE {unattributed} END"
        )

    no_match = f"CASE WHEN c.imp_key LIKE 'r%' THEN '{UNKNOWN_REQUEST}' ELSE '{NO_IMPRESSION}' END"
    return [
        f"""CREATE TEMPORARY VIEW attribution_input AS
            SELECT 'r' || request_id AS imp_key, TRUE AS is_impression, request_id AS event_key,
                CAST(NULL AS BIGINT) AS movie_id, ts, model_name, model_version, variant, strategy, rowtime
            FROM imp_on_time
            UNION ALL SELECT CASE WHEN request_id IS NOT NULL THEN 'r' || request_id
                    ELSE {shown_key("user_id", "movie_id")} END,
                FALSE, event_id, movie_id, ts, '', '', '', '', rowtime
            FROM clicks_on_time WHERE event = 'click'""",
        f"""CREATE TEMPORARY VIEW online_events AS
            SELECT {arm("model_name", "''")} AS model_name, {arm("model_version", "''")} AS model_version,
                {arm("variant", f"'{UNATTRIBUTED}'")} AS variant, {arm("strategy", no_match)} AS strategy,
                c.is_impression AS is_impression, c.event_key AS event_key,
                CASE WHEN NOT c.is_impression AND {shown} THEN {position} END AS item_position,
                c.rowtime AS rowtime
            FROM attribution_input AS c
            LEFT JOIN imp_versions FOR SYSTEM_TIME AS OF c.rowtime AS i ON c.imp_key = i.imp_key""",
    ]


def metric_views(settings: Settings) -> list[str]:
    """CTR rows per (tumbling window, arm) and trending counts per (HOP window, movie), each counting an impression
    (request_id) or click (event_id) once: a first window aggregate keyed by the id merges re-sent copies, a second
    one (cascaded on its window_time) counts. Cheaper than COUNT(DISTINCT) maps, and it also keeps a re-sent click
    out of mean_clicked_position and trending."""
    w, slide = _seconds(settings.online_window_s), _seconds(settings.trending_slide_s)
    epoch_ms = "UNIX_TIMESTAMP(DATE_FORMAT({0}, 'yyyy-MM-dd HH:mm:ss')) * 1000"
    arm = "model_name, model_version, variant, strategy"
    return [
        f"""CREATE TEMPORARY VIEW online_distinct AS
            SELECT window_time AS event_time, {arm}, is_impression, MIN(item_position) AS item_position
            FROM TABLE(TUMBLE(TABLE online_events, DESCRIPTOR(rowtime), {w}))
            GROUP BY window_start, window_end, window_time, {arm}, is_impression, event_key""",
        f"""CREATE TEMPORARY VIEW online_windows AS
            SELECT {epoch_ms.format("window_start")} AS window_start, {epoch_ms.format("window_end")} AS window_end,
                {arm}, impressions, clicks, clicks_at_10,
                CASE WHEN impressions > 0 THEN CAST(clicks_at_10 AS DOUBLE) / impressions END AS ctr_at_10,
                mean_clicked_position
            FROM (
                SELECT window_start, window_end, {arm},
                    CAST(SUM(CASE WHEN is_impression THEN 1 ELSE 0 END) AS BIGINT) AS impressions,
                    CAST(SUM(CASE WHEN is_impression THEN 0 ELSE 1 END) AS BIGINT) AS clicks,
                    CAST(SUM(CASE WHEN item_position <= 10 THEN 1 ELSE 0 END) AS BIGINT) AS clicks_at_10,
                    AVG(CAST(item_position AS DOUBLE)) AS mean_clicked_position
                FROM TABLE(TUMBLE(TABLE online_distinct, DESCRIPTOR(event_time), {w}))
                GROUP BY window_start, window_end, {arm})""",
        # trending: one row per distinct click/like per slide, then the HOP sums them (its slices are the slides)
        f"""CREATE TEMPORARY VIEW trending_distinct AS
            SELECT window_time AS event_time, movie_id, event
            FROM TABLE(TUMBLE(TABLE clicks_on_time, DESCRIPTOR(rowtime), {slide}))
            WHERE event IN ('click', 'like')
            GROUP BY window_start, window_end, window_time, movie_id, event, event_id""",
        f"""CREATE TEMPORARY VIEW trending_windows AS
            SELECT CAST(movie_id AS STRING) AS movie_key, movie_id, CAST(clicks AS BIGINT) AS clicks,
                CAST(likes AS BIGINT) AS likes, {epoch_ms.format("window_end")} AS window_end
            FROM (
                SELECT window_start, window_end, movie_id,
                    SUM(CASE WHEN event = 'click' THEN 1 ELSE 0 END) AS clicks,
                    SUM(CASE WHEN event = 'like' THEN 1 ELSE 0 END) AS likes
                FROM TABLE(HOP(TABLE trending_distinct, DESCRIPTOR(event_time), {slide},
                    {_seconds(settings.trending_window_s)}))
                GROUP BY window_start, window_end, movie_id)""",
    ]


def inserts(settings: Settings) -> list[str]:
    now = "UNIX_TIMESTAMP() * 1000"
    fields = ", ".join(METRIC_FIELDS)
    statements = [
        f"""INSERT INTO online_dlq
            SELECT reason, payload, kafka_partition, kafka_offset, {now}, '{settings.impressions_topic}', kind
                FROM imp_rejected
            UNION ALL SELECT reason, payload, kafka_partition, kafka_offset, {now}, '{settings.clicks_topic}', kind
                FROM clicks_late""",
        f"""INSERT INTO online_files SELECT {fields},
            DATE_FORMAT(TO_TIMESTAMP_LTZ(window_start, 3), 'yyyy-MM-dd') AS dt FROM online_windows""",
        "INSERT INTO trending SELECT movie_key, movie_id, clicks, likes, window_end FROM trending_windows",
    ]
    if settings.feedback_postgres_url:
        statements.append(f"INSERT INTO online_pg SELECT {fields} FROM online_windows")
    return statements
