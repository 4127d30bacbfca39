"""Real `airflow dags test movielens_retrain` runs on the committed slice against a real sqlite MLflow store.

One sequence of four DAG runs (module fixtures, each builds on the previous one):
1. feedback batch A landed, 2 epochs           -> registers version 1, champion = 1, A consumed
2. feedback batch B landed, epochs=0 (untrained) -> registers version 2, gate rejects it, champion stays 1, B consumed
3. no new feedback, a coverage guardrail of 10x   -> registers version 3, the guardrail refuses it, champion stays 1
4. a corrupt feedback batch landed               -> fails at validate, nothing registered, champion stays 1
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from infra.dag_runs import RETRAIN_TASKS, AirflowHome, DagTestResult, dags_test
from pipelines.landed import write_part_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STAGES = list(RETRAIN_TASKS)


def feedback_events(ah: AirflowHome, start: int, count: int) -> list[dict]:
    """Valid click events on (user, movie) pairs of the fixture slice, in the landed format (pipelines/landed.py)."""
    ratings = pd.read_csv(ah.settings.dataset_dir / "ratings.csv")
    now_ms = int(time.time() * 1000)
    events = []
    for i, row in enumerate(ratings.iloc[start : start + count].itertuples()):
        events.append({
            "schema_version": 1, "event_id": f"00000000-0000-4000-8000-{start + i:012d}", "user_id": int(row.userId),
            "movie_id": int(row.movieId), "event": ("click", "like", "watch")[i % 3], "ts": now_ms - 60_000 + i,
            "source": "test", "kafka_partition": i % 3, "kafka_offset": start + i,
        })  # fmt: skip
    return events


def land(ah: AirflowHome, name: str, events: list[dict]) -> Path:
    """One committed part file in the landed format (what the Flink job writes)."""
    return write_part_file(ah.settings.feedback_dir, name, events)


def snapshot_ids(ah: AirflowHome, run: DagTestResult) -> list[str]:
    path = ah.settings.runs_dir / run.run_key / "feedback.jsonl"
    if not path.exists():
        return []
    return sorted(json.loads(line)["event_id"] for line in path.read_text().splitlines() if line.strip())


def stage_output(ah: AirflowHome, run: DagTestResult, stage: str) -> dict:
    return json.loads((ah.settings.runs_dir / run.run_key / f"{stage}.json").read_text())


def mlflow_client(ah: AirflowHome):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(ah.settings.mlflow_tracking_uri)
    return MlflowClient(ah.settings.mlflow_tracking_uri)


def champion_version(ah: AirflowHome) -> str:
    return str(mlflow_client(ah).get_model_version_by_alias(ah.settings.model_name, "champion").version)


def versions(ah: AirflowHome) -> list[str]:
    found = mlflow_client(ah).search_model_versions(f"name = '{ah.settings.model_name}'")
    return sorted(str(v.version) for v in found)


def report(run: DagTestResult, label: str) -> None:
    timings = ", ".join(f"{t}={run.durations.get(t) or 0:.1f}s" for t in STAGES if t in run.durations)
    print(f"\n[{label}] dags test {run.seconds:.1f}s wall; {timings}")


@pytest.fixture(scope="module")
def batch_a(airflow_home) -> list[dict]:
    events = feedback_events(airflow_home, 0, 6)
    land(airflow_home, "part-0-0.json", events)
    return events


@pytest.fixture(scope="module")
def first_run(airflow_home, batch_a) -> DagTestResult:
    run = dags_test(airflow_home, {"epochs": 2})
    report(run, "first run")
    assert run.returncode == 0, run.output[-6000:]
    return run


@pytest.fixture(scope="module")
def batch_b(airflow_home, first_run) -> list[dict]:
    events = feedback_events(airflow_home, 100, 4)
    land(airflow_home, "part-0-1.json", events)
    return events


@pytest.fixture(scope="module")
def worse_run(airflow_home, first_run, batch_b) -> DagTestResult:
    run = dags_test(airflow_home, {"epochs": 0})  # an untrained network: clearly worse than the champion
    report(run, "worse run")
    assert run.returncode == 0, run.output[-6000:]
    return run


@pytest.fixture(scope="module")
def guarded_run(airflow_home, worse_run) -> DagTestResult:
    # wins on NDCG by construction (margin -1) but cannot keep 10x the champion's catalog coverage
    guard = {"promotion_margin": -1.0, "guardrail_min_coverage_ratio": 10.0}
    run = dags_test(airflow_home, {"epochs": 2, "settings_overrides": guard})
    report(run, "guarded run")
    assert run.returncode == 0, run.output[-6000:]
    return run


@pytest.fixture(scope="module")
def corrupt_run(airflow_home, guarded_run) -> tuple[DagTestResult, list[dict]]:
    events = feedback_events(airflow_home, 200, 3)
    events[0]["event"] = "purchase"  # not a click/like/watch
    events[1]["user_id"] = -7  # user ids start at 1
    events[2]["event_id"] = "not-a-uuid"
    land(airflow_home, "part-0-2.json", events)
    run = dags_test(airflow_home, {"epochs": 1})
    report(run, "corrupt run")
    return run, events


def test_first_run_registers_a_version_and_sets_champion(airflow_home, first_run):
    assert all(first_run.states[t] == "success" for t in STAGES), first_run.states
    assert versions(airflow_home) == ["1"]
    assert champion_version(airflow_home) == "1"
    decision = stage_output(airflow_home, first_run, "promote")
    assert decision["promoted"] is True and decision["challenger_version"] == "1"


def test_mlflow_run_is_tagged_with_the_dag_run_and_keeps_reports(airflow_home, first_run):
    client = mlflow_client(airflow_home)
    version = client.get_model_version(airflow_home.settings.model_name, "1")
    run = client.get_run(version.run_id)
    assert run.data.tags["airflow_dag_id"] == "movielens_retrain"
    assert run.data.tags["airflow_run_id"] == first_run.run_id
    assert run.data.tags["promotion.decision"] == "promoted"
    assert "ndcg_at_10" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(version.run_id, "validation")}
    assert "validation/validation_feedback.json" in artifacts, artifacts


def test_task_logs_say_what_was_read_and_decided(first_run):
    assert "load_feedback: {" in first_run.output
    assert "validate: {" in first_run.output and '"feedback_events": 6' in first_run.output
    assert "promote: {" in first_run.output and '"promoted": true' in first_run.output


def test_worse_config_leaves_champion_unchanged(airflow_home, worse_run):
    assert all(worse_run.states[t] == "success" for t in STAGES), worse_run.states
    assert versions(airflow_home) == ["1", "2"]
    assert champion_version(airflow_home) == "1"
    decision = stage_output(airflow_home, worse_run, "promote")
    assert decision["promoted"] is False and decision["champion_version"] == "1", decision
    tags = (
        mlflow_client(airflow_home)
        .get_run(stage_output(airflow_home, worse_run, "register")["run_id"])
        .data.tags
    )
    assert tags["promotion.decision"] == "rejected"


def test_a_guardrail_refuses_a_challenger_that_wins_on_ndcg(airflow_home, guarded_run):
    assert all(guarded_run.states[t] == "success" for t in STAGES), guarded_run.states
    decision = stage_output(airflow_home, guarded_run, "promote")
    assert decision["promoted"] is False, decision
    assert "guardrail refuses it: coverage_at_10" in decision["reason"], decision["reason"]
    assert champion_version(airflow_home) == "1"
    run = mlflow_client(airflow_home).get_run(stage_output(airflow_home, guarded_run, "register")["run_id"])
    assert run.data.tags["promotion.decision"] == "rejected"
    assert "guardrail" in run.data.tags["promotion.reason"]
    assert {"coverage_at_10", "champion_coverage_at_10", "champion_ndcg_at_10"} <= set(run.data.metrics)


def test_landed_feedback_is_read_exactly_once(airflow_home, batch_a, batch_b, first_run, worse_run):
    assert snapshot_ids(airflow_home, first_run) == sorted(e["event_id"] for e in batch_a)
    assert snapshot_ids(airflow_home, worse_run) == sorted(e["event_id"] for e in batch_b)
    assert stage_output(airflow_home, first_run, "preprocess")["feedback_positives"] == len(batch_a)


def test_corrupt_feedback_fails_before_training_without_retries(airflow_home, corrupt_run):
    run, events = corrupt_run
    assert run.returncode != 0
    # load_feedback only freezes the batch; great-expectations in validate stops the run
    failed = [t for t in STAGES if run.states[t] == "failed"]
    assert failed == ["validate"], run.states
    downstream = STAGES[STAGES.index(failed[0]) + 1 :]
    assert all(run.states[t] == "upstream_failed" for t in downstream), run.states
    assert run.tries[failed[0]] == 1, "bad data must not be retried"
    assert "expectation(s) failed" in run.output and "[bad-data]" in run.output
    for bad in ("purchase", "-7", "not-a-uuid"):
        assert bad in run.output, f"the log should name the failing value {bad!r}"


def test_corrupt_feedback_leaves_champion_and_watermark_unchanged(airflow_home, corrupt_run):
    from pipelines.feedback import load_watermark

    run, _ = corrupt_run
    assert versions(airflow_home) == ["1", "2", "3"] and champion_version(airflow_home) == "1"
    watermark, committed_runs = load_watermark(airflow_home.settings, airflow_home.settings.model_name)
    assert run.run_key not in committed_runs and len(committed_runs) == 3
    consumed = {name for names in watermark.files.values() for name in names}
    assert consumed == {"part-0-0.json", "part-0-1.json"}  # the corrupt part file stays pending


def test_feedback_watch_announces_only_enough_new_feedback(airflow_home, corrupt_run):
    """The corrupt batch is still pending (3 events): below the threshold -> skipped, at it -> asset event."""
    import sqlite3

    from infra.airflow import run_airflow

    def watch(threshold: int) -> tuple[str, int]:
        env = {**airflow_home.env, "MOVIEREC_RETRAIN_MIN_NEW_FEEDBACK": str(threshold)}
        result = run_airflow(
            airflow_home.settings, ["dags", "test", "movielens_feedback_watch"], env, timeout=300
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        with sqlite3.connect(airflow_home.home / "airflow.db") as db:
            state = db.execute("SELECT state FROM task_instance WHERE dag_id = 'movielens_feedback_watch' "
                               "ORDER BY start_date DESC LIMIT 1").fetchone()[0]  # fmt: skip
            events = db.execute("SELECT count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                                "WHERE a.name = 'landed_click_feedback'").fetchone()[0]  # fmt: skip
        return state, events

    assert watch(4) == ("skipped", 0)
    assert watch(3) == ("success", 1)
