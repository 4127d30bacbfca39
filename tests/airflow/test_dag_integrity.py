"""DAG integrity, checked in the Airflow env: imports cleanly, no cycles, retries + owners, thin top level."""

from __future__ import annotations

import json
import os
import subprocess
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from infra.airflow import DAGS_FOLDER
from infra.dag_runs import RETRAIN_DAG as DAG_ID

pytestmark = pytest.mark.integration

PROBE = Path(__file__).with_name("dag_probe.py")
PIPELINE_ORDER = ["load_feedback", "validate", "preprocess", "train", "evaluate", "register", "promote",
                  "commit_feedback"]  # fmt: skip
# Loose bound on the DAG file's own import (airflow.sdk + settings already imported): ~0.2 s measured,
# a TensorFlow or pandas import at top level would add seconds.
MAX_IMPORT_SECONDS = 2.0


@pytest.fixture(scope="module")
def probe(airflow_home) -> dict:
    ah = airflow_home
    proc = subprocess.run(  # noqa: S603
        [str(ah.settings.venv_python("airflow")), str(PROBE), str(DAGS_FOLDER)],
        env={**os.environ, **ah.env}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_dag_file_imports_without_errors(probe):
    assert probe["import_errors"] == {}
    assert set(probe["dags"]) == {DAG_ID, "movielens_feedback_watch"}


def test_no_heavy_imports_and_import_time_is_bounded(probe):
    assert probe["heavy_modules"] == [], "DAG files must not import the ML stack at top level"
    for name, seconds in probe["file_import_seconds"].items():
        assert seconds < MAX_IMPORT_SECONDS, f"{name} took {seconds:.1f}s to import"
    print(
        f"airflow.sdk + settings import {probe['framework_import_seconds']}s; DAG files {probe['file_import_seconds']}"
    )


def test_no_cycles_and_pipeline_order(probe):
    tasks = probe["dags"][DAG_ID]["tasks"]
    graph = {task_id: set(t["upstream"]) for task_id, t in tasks.items()}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:  # pragma: no cover - the assertion message is the point
        pytest.fail(f"cycle in {DAG_ID}: {exc}")
    assert order == PIPELINE_ORDER
    for upstream, task_id in zip(PIPELINE_ORDER, PIPELINE_ORDER[1:], strict=False):
        assert tasks[task_id]["upstream"] == [upstream]


def test_every_task_has_owner_retries_and_runs_in_the_ml_env(probe, airflow_home):
    ml_python = str(airflow_home.settings.venv_python("ml"))
    for dag in probe["dags"].values():
        for task_id, t in dag["tasks"].items():
            assert t["owner"] and t["owner"] != "airflow", f"{task_id}: set a real owner"
            assert t["retries"] >= 1, task_id
            assert t["python"] == ml_python and t["expect_airflow"] is False, task_id
    for task_id, t in probe["dags"][DAG_ID]["tasks"].items():
        assert t["retry_policy"] == "FailFastOnBadData", task_id


def test_schedule_params_and_assets(probe):
    dag = probe["dags"][DAG_ID]
    assert dag["schedule"] in ("@daily", "0 0 * * *")  # settings.retrain_schedule default ...
    assert "landed_click_feedback" in dag["schedule_repr"]  # ... or enough new feedback (the watch DAG)
    assert dag["catchup"] is False and dag["max_active_runs"] == 1 and dag["doc_md"]
    assert dag["params"]["force_promote"] is False
    assert {"dataset", "epochs", "model_type", "max_ratings", "settings_overrides"} <= set(dag["params"])
    assert dag["param_schemas"]["model_type"]["enum"] == ["neumf", "gmf", "mlp", "mf", "content_mf"]
    assert dag["tasks"]["register"]["outlets"] == ["registered_model"]
    assert dag["tasks"]["load_feedback"]["inlets"] == ["landed_click_feedback"]
    watch = probe["dags"]["movielens_feedback_watch"]
    assert watch["schedule"] == "*/15 * * * *" and watch["catchup"] is False
    assert watch["tasks"]["count_new_feedback"]["outlets"] == ["landed_click_feedback"]


def test_stage_overrides_carry_params_and_lineage_tags(probe):
    example = probe["stage_overrides_example"]
    assert example["dataset"] == "ml-100k" and example["epochs"] == 3 and example["embedding_dim"] == 4
    assert "max_ratings" not in example  # None means "keep the settings value"
    assert example["force_promote"] is True
    assert example["tags"] == {"airflow_dag_id": DAG_ID, "airflow_run_id": "manual__2026-01-01T00:00:00+00:00",
                               "logical_date": ""}  # fmt: skip
    assert example["path_safe"] == "manual__2026-01-01T00_00_00_00_00"


def test_bad_data_fails_without_retries_other_errors_retry(probe):
    assert probe["stage_overrides_example"]["policy_on_bad_data"] == "fail"
    assert probe["stage_overrides_example"]["policy_on_other_errors"] == "default"
