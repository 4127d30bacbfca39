"""Airflow assets shared by the DAG files in dags/ (imported in the Airflow env only)."""

from __future__ import annotations

from airflow.sdk import Asset

from pipelines.settings import Settings


def landed_feedback(settings: Settings) -> Asset:
    """Click feedback landed by the Flink job (`<feedback_dir>/dt=YYYY-MM-DD/part-*`)."""
    return Asset(name="landed_click_feedback", uri=settings.feedback_dir.as_uri())


def registered_model(settings: Settings) -> Asset:
    """The model in the MLflow registry; each registered version is an asset event."""
    return Asset(name="registered_model", uri=f"x-mlflow://registered-models/{settings.model_name}")
