"""Shared Airflow fixtures (a pytest plugin; registered in tests/conftest.py): one migrated AIRFLOW_HOME per session."""

from __future__ import annotations

import pytest

from infra.dag_runs import AirflowHome, new_airflow_home
from pipelines.settings import Settings
from tests.helpers import FIXTURE_DATA_ROOT

# Small and quick: the committed slice, tiny model, few epochs (params can still override per run).
SMALL_SETTINGS = {"epochs": 2, "batch_size": 512, "embedding_dim": 8, "mlp_layers": (16, 8)}
AIRFLOW_TEST_PORT = 18080  # the API server is never started by these tests; the port only fills the config


def small_airflow_home(home, settings: Settings) -> AirflowHome:
    """A fresh, migrated AIRFLOW_HOME whose tasks see `settings` with the small model."""
    return new_airflow_home(home, settings, AIRFLOW_TEST_PORT, SMALL_SETTINGS)


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> AirflowHome:
    root = tmp_path_factory.mktemp("airflow")
    settings = Settings(
        var_dir=root / "var", data_root=FIXTURE_DATA_ROOT, dataset="ml-latest-small", **SMALL_SETTINGS
    )
    return small_airflow_home(root / "airflow_home", settings)
