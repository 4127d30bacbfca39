"""The online job's graph: impressions + clicks -> attribution -> CTR per (window, arm) -> files | PostgreSQL;
clicks -> sliding per-movie counts -> trending topic; bad impressions and late events -> dead-letter topic.

Builds the table environment and statement set only; streaming.online_job submits them.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.events import InvalidEvent
from pipelines.impressions import parse_impression
from pipelines.settings import Settings
from streaming import fallback, online_sql
from streaming.checkpoints import BOUNDED, LONG_RUNNING
from streaming.flink_config import job_options, table_env


def classify_impression(payload: str | None) -> tuple:
    """One raw impression payload -> an IMPRESSION_TYPE tuple without NULLs (thread-mode UDFs cannot return them)."""
    stand_in = (False, "", "", 0, "", "", "", "", "", 0)
    if payload is None:
        return (False, "empty payload (tombstone)", *stand_in[2:])
    try:
        e = parse_impression(payload)
    except InvalidEvent as exc:
        return (False, exc.reason[:2000], *stand_in[2:])
    items = ",".join(str(m) for m in e.items)
    return (True, "", str(e.request_id), e.user_id, e.model_name, e.model_version, e.variant, e.strategy, items,
            e.ts)  # fmt: skip


def online_options(settings: Settings, checkpoint_root: Path, restore_from: Path | None, name: str) -> dict:
    options = job_options(settings, checkpoint_root, restore_from, name)
    # one instance per operator: only then do all operators see one watermark in one order, so the on-time
    # decision after the source is the one every window applies (docs/streaming.md, "Time and lateness")
    options["parallelism.default"] = str(settings.flink_online_parallelism)
    # keyed state of the temporal joins (latest impression per request/user+movie) outlives its use by at most
    # this long; window operators clean up by watermark instead
    ttl = settings.attribution_window_s + settings.online_allowed_lateness_s + settings.online_window_s
    options["table.exec.state.ttl"] = f"{ttl}s"
    # heap by default: with one state row per impression (not one per shown item) it fits; rocksdb for state
    # larger than the heap
    options["state.backend.type"] = settings.online_state_backend
    if settings.online_state_backend == "rocksdb":
        options["execution.checkpointing.incremental"] = "true"
    # barriers overtake the (watermark-heavy, backpressured) buffers: checkpoints, and so landed rows and committed
    # offsets, keep coming while the job works through a backlog
    options["execution.checkpointing.unaligned.enabled"] = "true"
    return options


def register_udfs(t_env, skew_s: int) -> None:
    from pyflink.common import Row
    from pyflink.table import DataTypes
    from pyflink.table.udf import udf

    def row_type(spec):
        return DataTypes.ROW([DataTypes.FIELD(n, getattr(DataTypes, t)()) for n, t in spec])

    t_env.create_temporary_function(
        "parse_click",
        udf(
            lambda p: Row(*fallback.classify_without_nulls(p, skew_s)),
            result_type=row_type(fallback.PARSED_TYPE),
        ),
    )
    t_env.create_temporary_function(
        "parse_impression",
        udf(lambda p: Row(*classify_impression(p)), result_type=row_type(online_sql.IMPRESSION_TYPE)),
    )


def build(
    settings: Settings,
    checkpoint_root: Path,
    restore_from: Path | None,
    stop_offsets: dict[str, dict[int, int]] | None,
):
    """The table environment and statement set of the online job (nothing is submitted yet)."""
    mode = BOUNDED if stop_offsets is not None else LONG_RUNNING
    t_env = table_env(
        online_options(settings, checkpoint_root, restore_from, f"movierec-online-metrics ({mode})")
    )
    register_udfs(t_env, settings.max_future_skew_s)
    for statement in (
        online_sql.ddl(settings, stop_offsets)
        + online_sql.timed_views(settings, bounded=stop_offsets is not None)
        + online_sql.impression_views()
        + online_sql.click_views(settings)
        + online_sql.attribution_views(settings)
        + online_sql.metric_views(settings)
    ):
        t_env.execute_sql(statement)
    statements = t_env.create_statement_set()
    for statement in online_sql.inserts(settings):
        statements.add_insert_sql(statement)
    return t_env, statements
