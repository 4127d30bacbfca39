"""Data validation with great-expectations 1.x: suites as code, ephemeral context, clear failures.

A failing batch raises `DataValidationError` naming every failed expectation; the JSON result is kept
(the pipeline logs it as an MLflow artifact).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.events import latest_allowed_ts

log = logging.getLogger(__name__)

RATING_TYPES = ["int64", "int32"]
FUTURE_SLACK_S = 24 * 3600


class DataValidationError(RuntimeError):
    """A batch failed validation; `report` holds the full result."""

    def __init__(self, report: ValidationReport):
        failed = "; ".join(report.failed)
        super().__init__(f"{report.name}: {len(report.failed)} expectation(s) failed: {failed}")
        self.report = report


@dataclass
class ValidationReport:
    name: str
    success: bool
    rows: int
    failed: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "success": self.success, "rows": self.rows, "failed": self.failed}

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"validation_{self.name}.json"
        path.write_text(
            json.dumps({"summary": self.summary(), "great_expectations": self.result}, indent=2, default=str)
        )
        return path


@lru_cache(maxsize=1)
def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _gx():
    import great_expectations as gx

    return gx


def ratings_expectations(now_s: int | None = None) -> list:
    E = _gx().expectations
    now_s = int(time.time()) if now_s is None else now_s
    return [
        E.ExpectTableRowCountToBeBetween(min_value=1),
        E.ExpectTableColumnsToMatchSet(
            column_set=["user_id", "item_id", "rating", "timestamp"], exact_match=False
        ),
        *[E.ExpectColumnValuesToNotBeNull(column=c) for c in ("user_id", "item_id", "rating", "timestamp")],
        *[
            E.ExpectColumnValuesToBeInTypeList(column=c, type_list=RATING_TYPES)
            for c in ("user_id", "item_id")
        ],
        E.ExpectColumnValuesToBeBetween(column="user_id", min_value=1),
        E.ExpectColumnValuesToBeBetween(column="item_id", min_value=1),
        E.ExpectColumnValuesToBeBetween(column="rating", min_value=0.5, max_value=5.0),
        E.ExpectColumnValuesToBeBetween(column="timestamp", min_value=0, max_value=now_s + FUTURE_SLACK_S),
        E.ExpectCompoundColumnsToBeUnique(column_list=["user_id", "item_id", "timestamp"]),
    ]


def movies_expectations() -> list:
    E = _gx().expectations
    return [
        E.ExpectTableRowCountToBeBetween(min_value=1),
        E.ExpectColumnValuesToNotBeNull(column="item_id"),
        E.ExpectColumnValuesToBeUnique(column="item_id"),
        E.ExpectColumnValuesToNotBeNull(column="title"),
        E.ExpectColumnValuesToNotBeNull(column="genres"),
        E.ExpectColumnValuesToBeBetween(column="year", min_value=1870, max_value=2100, mostly=0.99),
    ]


def users_expectations() -> list:
    """User demographics (ml-100k u.user, ml-1m users.dat): the content model's user-side features."""
    E = _gx().expectations
    return [
        E.ExpectTableRowCountToBeBetween(min_value=1),
        E.ExpectColumnValuesToNotBeNull(column="user_id"),
        E.ExpectColumnValuesToBeUnique(column="user_id"),
        E.ExpectColumnValuesToBeBetween(column="age", min_value=1, max_value=120),
        E.ExpectColumnValuesToBeInSet(column="gender", value_set=["F", "M"]),
        E.ExpectColumnValuesToNotBeNull(column="occupation"),
    ]


def added_movies_expectations() -> list:
    """Movies added after training (pipelines.catalog): complete records, since the model places them by content."""
    E = _gx().expectations
    return [
        *[
            E.ExpectColumnValuesToNotBeNull(column=c)
            for c in ("item_id", "title", "genres", "year", "added_at")
        ],
        E.ExpectColumnValuesToBeUnique(column="item_id"),
        E.ExpectColumnValuesToBeBetween(column="item_id", min_value=1),
        E.ExpectColumnValuesToBeBetween(column="year", min_value=1870, max_value=2100),
        E.ExpectColumnValuesToMatchRegex(column="genres", regex=r"^[^|]+(?:\|[^|]+)*$"),
    ]


def feedback_expectations(now_ms: int | None = None, max_future_skew_s: int = 300) -> list:
    E = _gx().expectations
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return [
        *[
            E.ExpectColumnValuesToNotBeNull(column=c)
            for c in ("event_id", "user_id", "movie_id", "event", "ts")
        ],
        E.ExpectColumnValuesToBeUnique(column="event_id"),
        E.ExpectColumnValuesToMatchRegex(
            column="event_id",
            regex=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        ),
        E.ExpectColumnValuesToBeBetween(column="user_id", min_value=1),
        E.ExpectColumnValuesToBeBetween(column="movie_id", min_value=1),
        E.ExpectColumnValuesToBeInSet(column="event", value_set=["click", "like", "watch"]),
        E.ExpectColumnValuesToBeBetween(
            column="ts", min_value=0, max_value=latest_allowed_ts(now_ms, max_future_skew_s)
        ),
    ]


def _describe(res) -> str:
    cfg = res.expectation_config
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)}
    detail = res.result or {}
    count = detail.get("unexpected_count")
    sample = detail.get("partial_unexpected_list")
    extra = f" ({count} unexpected, e.g. {sample[:3]})" if count else ""
    if res.exception_info and res.exception_info.get("raised_exception"):
        extra = f" (error: {str(res.exception_info.get('exception_message'))[:120]})"
    return f"{cfg.type}{kwargs}{extra}"


def run_suite(name: str, df: pd.DataFrame, expectations: list) -> ValidationReport:
    """Validate one in-memory batch against a list of expectations (ephemeral suite)."""
    gx = _gx()
    context = _context()
    uid = uuid.uuid4().hex[:8]
    asset = context.data_sources.add_pandas(f"{name}-{uid}").add_dataframe_asset(name=name)
    batch = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(gx.ExpectationSuite(name=f"{name}-{uid}", expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{name}-{uid}", data=batch, suite=suite)
    )
    result = definition.run(batch_parameters={"dataframe": df})
    failed = [_describe(r) for r in result.results if not r.success]
    report = ValidationReport(name, bool(result.success), len(df), failed, result.to_json_dict())
    log.info("validation %s: %s (%d rows, %d failed)", name, "passed" if report.success else "FAILED", len(df),
             len(failed))  # fmt: skip
    return report


def _check(report: ValidationReport) -> ValidationReport:
    if not report.success:
        raise DataValidationError(report)
    return report


def validate_ratings(df: pd.DataFrame, raise_on_failure: bool = True) -> ValidationReport:
    report = run_suite("ratings", df, ratings_expectations())
    return _check(report) if raise_on_failure else report


def validate_movies(df: pd.DataFrame, raise_on_failure: bool = True) -> ValidationReport:
    report = run_suite("movies", df, movies_expectations())
    return _check(report) if raise_on_failure else report


def validate_users(df: pd.DataFrame, raise_on_failure: bool = True) -> ValidationReport:
    report = run_suite("users", df, users_expectations())
    return _check(report) if raise_on_failure else report


def validate_added_movies(df: pd.DataFrame, raise_on_failure: bool = True) -> ValidationReport:
    """Catalog additions (an empty file is valid)."""
    if df.empty:
        return ValidationReport("added_movies", True, 0)
    report = run_suite("added_movies", df, added_movies_expectations())
    return _check(report) if raise_on_failure else report


def validate_feedback(
    df: pd.DataFrame, raise_on_failure: bool = True, max_future_skew_s: int = 300
) -> ValidationReport:
    """Click-feedback events (an empty batch is valid)."""
    if df.empty:
        return ValidationReport("feedback", True, 0)
    report = run_suite("feedback", df, feedback_expectations(max_future_skew_s=max_future_skew_s))
    return _check(report) if raise_on_failure else report
