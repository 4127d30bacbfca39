"""Retraining DAG: MovieLens ratings + landed click feedback -> validate -> train -> MLflow registry -> gate.

Thin on purpose: every task is `@task.external_python` in the ML env and calls one `pipelines` function.
Only `pipelines.settings` (pydantic) is imported here; TensorFlow/MLflow/pandas load inside the tasks.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from airflow.sdk import (
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    RetryDecision,
    RetryPolicy,
    chain,
    dag,
    task,
)

from infra.airflow_assets import landed_feedback, registered_model
from pipelines.settings import TrainingField, get_settings, training_fields

settings = get_settings()
ML_PYTHON = str(settings.venv_python("ml"))

# Lineage shown in the UI's asset graph: the Flink job lands feedback (announced by movielens_feedback_watch
# when enough is new), this DAG consumes it and registers model versions.
LANDED_FEEDBACK = landed_feedback(settings)
REGISTERED_MODEL = registered_model(settings)


def retrain_schedule() -> AssetOrTimeSchedule | list | None:
    """settings.retrain_schedule (cron or preset), or-ed with "enough new feedback" when the watch DAG runs."""
    cron = settings.retrain_schedule
    if not settings.feedback_watch_schedule:
        return cron or None
    if not cron:
        return [LANDED_FEEDBACK]
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(cron, timezone="UTC"), assets=[LANDED_FEEDBACK])


# Tasks re-raise pipelines.validation.DataValidationError with this prefix (the ML env's exception type
# does not cross the process boundary, its message does).
BAD_DATA = "[bad-data]"


class FailFastOnBadData(RetryPolicy):
    """Retry transient failures, but fail at once when great-expectations rejected the data."""

    def evaluate(
        self, exception: BaseException, try_number: int, max_tries: int, context: Any = None
    ) -> RetryDecision:
        if BAD_DATA in str(exception):
            return RetryDecision.fail("data validation failed: a retry cannot fix the data")
        return RetryDecision.default()


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "mlops",
    "retries": settings.task_retries,  # e.g. the MLflow server was down at register
    "retry_delay": timedelta(seconds=settings.task_retry_delay_s),
    "retry_policy": FailFastOnBadData(),
    "execution_timeout": timedelta(hours=2),
}

JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", tuple: "array"}


def training_param(field: TrainingField) -> Param:
    """The form field of one training knob, derived from its Settings field (type, choices, description)."""
    json_type = JSON_TYPES[field.kind]
    default = list(field.default) if isinstance(field.default, tuple) else getattr(settings, field.name)
    extra: dict[str, Any] = {"enum": list(field.choices)} if field.choices else {}
    return Param(default, type=["null", json_type] if field.optional else json_type,
                 description=field.description, **extra)  # fmt: skip


PARAMS = {
    **{field.name: training_param(field) for field in training_fields()},
    "force_promote": Param(False, type="boolean", description="Promote even if the challenger is not better"),
    "settings_overrides": Param(
        {}, type="object", description='Other Settings fields, e.g. {"cold_start_min_count": 5}'
    ),
}


def path_safe(value: str) -> str:
    """Airflow run ids (manual__2025-01-01T00:00:00+00:00) as folder names under runs_dir."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", value)


def stage_overrides(params: dict, dag_id: str, run_id: str, logical_date: Any) -> str:
    """JSON for `run_stage(params=...)`: Settings overrides from the form, force_promote, MLflow tags."""
    values = dict(params)
    control = ("settings_overrides", "force_promote")
    overrides = {k: v for k, v in values.items() if k not in control and v is not None}
    overrides.update(values.get("settings_overrides") or {})
    overrides["force_promote"] = bool(values.get("force_promote", False))
    overrides["tags"] = {
        "airflow_dag_id": dag_id,
        "airflow_run_id": run_id,
        "logical_date": "" if logical_date is None else str(logical_date),
    }
    return json.dumps(overrides)


# Rendered per task instance (op_kwargs are templated recursively); plain strings cross the env boundary.
RUN = {
    "key": "{{ run_id | path_safe }}",
    "overrides": "{{ stage_overrides(params, dag.dag_id, run_id, logical_date | default(none)) }}",
}


@task.external_python(python=ML_PYTHON, expect_airflow=False)
def load_feedback(run: dict) -> dict:
    """Snapshot the landed click feedback not yet consumed (by watermark) into this run's folder."""
    import json
    import logging

    from pipelines.feedback import snapshot_new_feedback
    from pipelines.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides = json.loads(run["overrides"])
    settings = Settings(**{k: v for k, v in overrides.items() if k in Settings.model_fields})
    result = snapshot_new_feedback(settings, run["key"], settings.model_name)  # validated in `validate`
    print(f"load_feedback: {json.dumps(result, default=str)}")
    return json.loads(json.dumps(result, default=str))


@task.external_python(python=ML_PYTHON, expect_airflow=False)
def pipeline_stage(stage: str, run: dict) -> dict:
    """Run one stage of `pipelines.pipeline` for this DAG run (files hand off under runs_dir/<run key>)."""
    import json
    import logging

    from pipelines.pipeline import run_stage
    from pipelines.validation import DataValidationError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = run_stage(stage, run["key"], json.loads(run["overrides"]))
    except DataValidationError as exc:
        raise RuntimeError(f"[bad-data] {stage}: {exc}") from exc
    print(f"{stage}: {json.dumps(result, default=str)}")
    return json.loads(json.dumps(result, default=str))


@task.external_python(python=ML_PYTHON, expect_airflow=False)
def commit_feedback(run: dict) -> dict:
    """Move the feedback watermark past this run's batch (only after register + promote succeeded)."""
    import json
    import logging

    from pipelines.feedback import commit_feedback_watermark
    from pipelines.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides = json.loads(run["overrides"])
    settings = Settings(**{k: v for k, v in overrides.items() if k in Settings.model_fields})
    result = commit_feedback_watermark(settings, run["key"], settings.model_name)
    print(f"commit_feedback: {json.dumps(result, default=str)}")
    return json.loads(json.dumps(result, default=str))


@dag(
    dag_id="movielens_retrain",
    schedule=retrain_schedule(),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    user_defined_filters={"path_safe": path_safe},
    user_defined_macros={"stage_overrides": stage_overrides},
    tags=["movierec", "training"],
    doc_md=f"""
### MovieLens retraining with click feedback

`load_feedback -> validate -> preprocess -> train -> evaluate -> register -> promote -> commit_feedback`

Every task runs in the ML env (`{ML_PYTHON}`) and calls one `pipelines` function; stages hand off
through files in `<var_dir>/runs/<run id>/` and return small dicts (shown as XCom and in the task logs).

**Runs**: on `{settings.retrain_schedule}` (UTC) or when `movielens_feedback_watch` reports at least
{settings.retrain_min_new_feedback} new feedback events (asset `landed_click_feedback`), or when triggered.

**Reads**: ratings of `dataset` under `{settings.data_root}`; landed click feedback
`{settings.feedback_dir}/dt=YYYY-MM-DD/part-*` newer than the watermark in `{settings.state_dir}`.

**Writes**: `feedback.jsonl` + stage outputs under `{settings.runs_dir}/<run id>/`; one MLflow run tagged
`airflow_dag_id` / `airflow_run_id` / `logical_date` in `{settings.mlflow_tracking_uri}` with the validation
report, metrics and promotion decision; a new version of `{settings.model_name}` in the registry; the
`champion` alias when the challenger wins (or `force_promote`); the feedback watermark after success.

**Fails early**: bad feedback or ratings stop the run before training (great-expectations in
`load_feedback`'s snapshot and in `validate`; the failed expectations are named in the log), without
retries; nothing is trained or registered and the watermark stays put, so the batch is re-read next run.

Params: every training knob of `pipelines.settings.TRAINING_FIELDS` (dataset, model_type, loss, epochs, ...),
`force_promote` (default false) and `settings_overrides` (any other Settings field).
""",
)
def movielens_retrain() -> None:
    feedback = load_feedback.override(task_id="load_feedback", inlets=[LANDED_FEEDBACK])(RUN)
    stages = [
        pipeline_stage.override(task_id="validate")("validate", RUN),
        pipeline_stage.override(task_id="preprocess")("preprocess", RUN),
        pipeline_stage.override(task_id="train")("train", RUN),
        pipeline_stage.override(task_id="evaluate")("evaluate", RUN),
        pipeline_stage.override(task_id="register", outlets=[REGISTERED_MODEL])("register", RUN),
        pipeline_stage.override(task_id="promote")("promote", RUN),
    ]
    chain(feedback, *stages, commit_feedback.override(task_id="commit_feedback")(RUN))


movielens_retrain()
