"""The landing job's graph: Kafka clicks -> validate (SQL fast path + parse_event fallback) -> DLQ | dedup -> sinks.

Builds the table environment and statement set only; streaming.job submits them.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.settings import Settings
from streaming import fallback, sql
from streaming.checkpoints import BOUNDED, LONG_RUNNING
from streaming.fast_path import fast_path_sql
from streaming.flink_config import job_options, table_env


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

    result_type = DataTypes.ROW(
        [DataTypes.FIELD(n, getattr(DataTypes, t)()) for n, t in fallback.PARSED_TYPE]
    )
    parse_click = udf(
        lambda payload: Row(*fallback.classify_without_nulls(payload, skew_s)), result_type=result_type
    )
    t_env.create_temporary_function("parse_click", parse_click)
    for statement in list(fast_path_sql(source, skew_s).values()) + [sql.SLOW_CHECKED]:
        t_env.execute_sql(statement)
    stream = t_env.to_data_stream(t_env.sql_query(sql.ALL_CHECKED))
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
    changelog = t_env.to_changelog_stream(t_env.sql_query(sql.FIRST_SEEN))
    t_env.create_temporary_view("landed", t_env.from_data_stream(changelog))


def build(
    settings: Settings, checkpoint_root: Path, restore_from: Path | None, stop_offsets: dict[int, int] | None
):
    """The table environment and the statement set of the landing job (nothing is submitted yet)."""
    mode = BOUNDED if stop_offsets is not None else LONG_RUNNING
    t_env = table_env(
        job_options(settings, checkpoint_root, restore_from, f"movierec-feedback-landing ({mode})")
    )
    for statement in sql.ddl(settings, stop_offsets):
        t_env.execute_sql(statement)
    register_checked(t_env, "clicks_raw", settings.max_future_skew_s)
    for statement in sql.CHECKED_VIEWS:
        t_env.execute_sql(statement)
    register_landed(t_env)
    statements = t_env.create_statement_set()
    for key in ("dlq", "files", "pg"):
        if key != "pg" or settings.feedback_postgres_url:
            statements.add_insert_sql(sql.INSERTS[key])
    return t_env, statements
