"""Counts click feedback landed since the retraining watermark; enough of it triggers movielens_retrain.

The count runs in the ML env (pipelines.feedback, pandas; no TensorFlow). Below the threshold the task is
skipped, so no asset event is emitted; at or above it the `landed_click_feedback` asset gets an event and
`movielens_retrain` (scheduled on that asset or its cron) starts.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from infra.airflow_assets import landed_feedback
from pipelines.settings import get_settings

settings = get_settings()
NOT_ENOUGH = 99  # exit code of the count task when below the threshold -> task skipped, no asset event


@task.external_python(
    python=str(settings.venv_python("ml")), expect_airflow=False, skip_on_exit_code=NOT_ENOUGH
)
def count_new_feedback(threshold: int) -> dict:
    """Events landed but not yet consumed by the model lineage (nothing is snapshotted or committed)."""
    import json
    import sys

    from pipelines.feedback import load_watermark, read_landed_feedback
    from pipelines.settings import get_settings

    settings = get_settings()
    watermark, _ = load_watermark(settings, settings.model_name)
    events, _, partitions = read_landed_feedback(settings, watermark)
    result = {"new_events": len(events), "partitions": partitions, "threshold": threshold}
    print(f"count_new_feedback: {json.dumps(result)}")
    if len(events) < threshold:
        print(f"{len(events)} < {threshold} new events: no retrain")
        sys.exit(99)
    return result


if settings.feedback_watch_schedule:

    @dag(
        dag_id="movielens_feedback_watch",
        schedule=settings.feedback_watch_schedule,
        catchup=False,
        max_active_runs=1,
        default_args={"owner": "mlops", "retries": 1, "retry_delay": timedelta(minutes=1)},
        tags=["movierec", "feedback"],
        doc_md=f"""
### Is there enough new click feedback to retrain?

Every `{settings.feedback_watch_schedule}` (UTC): counts the events under `{settings.feedback_dir}` that the
`{settings.model_name}` lineage has not consumed (watermark in `{settings.state_dir}/feedback/`, read only).
At least {settings.retrain_min_new_feedback} (`MOVIEREC_RETRAIN_MIN_NEW_FEEDBACK`) -> an event on the asset
`landed_click_feedback`, which schedules `movielens_retrain`. Fewer -> the task is skipped.
Disable with `MOVIEREC_FEEDBACK_WATCH_SCHEDULE=` (empty).
""",
    )
    def movielens_feedback_watch() -> None:
        count_new_feedback.override(outlets=[landed_feedback(settings)])(settings.retrain_min_new_feedback)

    movielens_feedback_watch()
