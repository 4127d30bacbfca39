"""MLflow server down: the service keeps serving the loaded champion; register fails fast and clearly; after the
server is back the champion alias is unchanged (and a retry of register then succeeds, as an Airflow retry would).

The Airflow variant (a real `dags test` whose register task is retried) is tests/airflow/test_retrain_mlflow_down.py.
"""

from __future__ import annotations

import time

import httpx
import pytest

from infra.processes import port_open
from pipelines.pipeline import run_stage
from tests.helpers import registry_state

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUN_ID = "faults-mlflow-down"
TRAIN_STAGES = ("validate", "preprocess", "train", "evaluate")  # none of these talks to MLflow


def test_mlflow_down_serving_continues_register_fails_fast_champion_unchanged(
    fault_stack, champion, monkeypatch
):
    stack, s = fault_stack, fault_stack.settings
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    user = int(champion.recommender.maps.user_ids[1])
    client = httpx.Client(base_url=stack.base_url, timeout=30)
    champion_before, versions_before = registry_state(s.mlflow_tracking_uri, s.model_name)
    assert client.get("/model").json()["version"] == champion_before
    for stage in TRAIN_STAGES:  # the challenger is ready to register before the outage
        run_stage(stage, RUN_ID, None, s)

    assert stack.mlflow.stop(), "the MLflow server should have been running"
    assert not port_open("127.0.0.1", stack.store.mlflow_port)
    try:
        time.sleep(3 * s.model_poll_interval_s + 1)  # the service's registry poll has failed by now
        statuses, versions = [], set()
        for _i in range(60):
            resp = client.get(f"/recommendations/{user}", params={"k": 10})
            statuses.append(resp.status_code)
            if resp.status_code == 200:
                versions.add(resp.json()["model"]["version"])
                assert len(resp.json()["items"]) == 10
        model = client.get("/model")
        print(f"\n[mlflow down] tried {len(statuses)} recommendations, {statuses.count(200)} answered 200 "
              f"with version {versions}; /model last_error: {model.json().get('last_error')!r}")  # fmt: skip
        assert statuses.count(200) == len(statuses)
        assert versions == {champion_before}
        assert model.status_code == 200 and model.json()["version"] == champion_before

        started = time.monotonic()
        with pytest.raises(Exception) as failure:
            run_stage("register", RUN_ID, None, s)
        took = time.monotonic() - started
        message = str(failure.value)
        print(
            f"[mlflow down] register failed after {took:.1f}s: {type(failure.value).__name__}: {message[:300]}"
        )
        assert took < 60, f"register should fail fast, not hang ({took:.0f}s)"
        assert f"127.0.0.1:{stack.store.mlflow_port}" in message, message[:500]
        assert any(w in message for w in ("Connection refused", "Max retries", "Failed to establish")), (
            message[:500]
        )
        assert not (s.runs_dir / RUN_ID / "register.json").exists()
    finally:
        stack.mlflow.start(timeout=180)
        # a freshly started server on a loaded box can take longer than 5 s for its first answers
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")

    assert registry_state(s.mlflow_tracking_uri, s.model_name) == (champion_before, versions_before)
    assert client.get("/model").json()["version"] == champion_before
    # what the DAG's retry does once the server is back: register succeeds; only the gate may move the champion
    retried = run_stage("register", RUN_ID, None, s)
    champion_after, versions_after = registry_state(s.mlflow_tracking_uri, s.model_name)
    assert champion_after == champion_before and retried["version"] in versions_after
    assert len(versions_after) == len(versions_before) + 1
