"""Shared fixtures: an isolated runtime folder + settings per test, the committed ml-latest-small slice."""

from __future__ import annotations

import os

import pytest

from pipelines.settings import Settings
from tests.helpers import small_settings

# shared fixtures live in plugin modules, never imported across conftests
pytest_plugins = ["tests.plugins.serving", "tests.plugins.streaming", "tests.plugins.airflow"]

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings pointing at a fresh var/ folder and the committed 150-user slice of ml-latest-small."""
    return small_settings(tmp_path / "var")
