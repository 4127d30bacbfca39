"""MLflow server down during a real `airflow dags test movielens_retrain`: the DAG trains, fails at register with a
clear error, Airflow retries register, the run fails, and the champion, the registry and the feedback watermark
are unchanged once the server is back.

Own var dir, own Airflow home and a real `mlflow server` on a free port (champion version 1 registered through
it). The retry delay is shortened through the same settings a user would set
(MOVIEREC_TASK_RETRIES / MOVIEREC_TASK_RETRY_DELAY_S); MLflow's own HTTP retries are turned off so that each
attempt fails in seconds instead of minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from infra.dag_runs import AirflowHome, DagTestResult, dags_test
from infra.mlflow_server import mlflow_process, server_url
from infra.processes import ManagedProcess, free_port, port_open
from pipelines.settings import Settings
from tests.helpers import registry_state, small_settings
from tests.plugins.airflow import small_airflow_home

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRAIN_STAGES = ["load_feedback", "validate", "preprocess", "train", "evaluate"]
RETRIES = 1


@dataclass
class Registry:
    settings: Settings  # tracking URI = the server
    server: ManagedProcess
    airflow: (
        AirflowHome  # its own metadata DB: the feedback asset's URI (the var dir) differs from the session's
    )


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Iterator[Registry]:
    """A real MLflow server with champion version 1, registered through it, and an Airflow home using it."""
    from pipelines.pipeline import run_all

    root = tmp_path_factory.mktemp("mlflow-down")
    store = small_settings(root / "var", epochs=1, mlflow_port=free_port())
    settings = store.model_copy(update={"mlflow_tracking_uri": server_url(store)})
    server = mlflow_process(store)
    try:
        server.start(timeout=180)
        result = run_all(settings, run_id="mlflow-down-v1")
        assert result["promote"]["promoted"], result["promote"]
        yield Registry(settings, server, small_airflow_home(root / "airflow_home", settings))
    finally:
        server.stop()


@pytest.fixture(scope="module")
def down_run(registry: Registry) -> tuple[DagTestResult, tuple[str, list[str]]]:
    """Stop the server, run the DAG against it, start the server again; returns the run + registry before."""
    s = registry.settings
    before = registry_state(s.mlflow_tracking_uri, s.model_name)
    assert registry.server.stop(), "the MLflow server should have been running"
    assert not port_open("127.0.0.1", s.mlflow_port)
    env = {
        "MOVIEREC_TASK_RETRIES": str(RETRIES),
        "MOVIEREC_TASK_RETRY_DELAY_S": "5",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    }
    try:
        run = dags_test(registry.airflow, {"epochs": 1}, env=env)
    finally:
        registry.server.start(timeout=180)
    timings = ", ".join(f"{t}={run.durations.get(t) or 0:.1f}s" for t in run.durations)
    print(f"\n[mlflow down] dags test {run.seconds:.1f}s wall; tries={run.tries}; {timings}")
    return run, before


def test_dag_trains_then_fails_at_register_after_retrying(down_run):
    run, _ = down_run
    assert run.returncode != 0
    assert all(run.states[t] == "success" for t in TRAIN_STAGES), f"{run.states}\n{run.output[-6000:]}"
    assert run.states["register"] == "failed", run.states
    assert run.tries["register"] == 1 + RETRIES, f"register should have been retried: {run.tries}"
    assert run.states["promote"] == "upstream_failed" and run.states["commit_feedback"] == "upstream_failed"


def test_register_error_names_the_unreachable_server(down_run, registry):
    run, _ = down_run
    assert "RegistryUnavailableError" in run.output, run.output[-4000:]
    assert f"MLflow tracking server {registry.settings.mlflow_tracking_uri} is unreachable" in run.output
    assert "champion is unchanged" in run.output
    attempts = run.output.count(f"{registry.settings.mlflow_tracking_uri} is unreachable")
    assert attempts >= 1 + RETRIES, f"each attempt should log the error, found {attempts}"


def test_champion_registry_and_watermark_unchanged(down_run, registry):
    from pipelines.feedback import load_watermark
    from pipelines.registry import configure, find_run_by_key

    run, before = down_run
    s = registry.settings
    assert registry_state(s.mlflow_tracking_uri, s.model_name) == before == ("1", ["1"])
    configure(s)
    assert find_run_by_key(s, run.run_key) is None, "no half-written MLflow run may be left behind"
    _, committed_runs = load_watermark(s, s.model_name)
    assert run.run_key not in committed_runs
