"""Shared fixtures: an isolated runtime folder + settings per test, the committed ml-latest-small slice."""

from __future__ import annotations

import pytest

from pipelines.settings import Settings, quiet_environment
from tests.helpers import small_settings

# shared fixtures live in plugin modules, never imported across conftests
quiet_environment()

pytest_plugins = ["tests.plugins.serving", "tests.plugins.streaming", "tests.plugins.airflow"]


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings pointing at a fresh var/ folder and the committed 150-user slice of ml-latest-small."""
    return small_settings(tmp_path / "var")
