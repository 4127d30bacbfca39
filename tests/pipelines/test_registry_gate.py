"""Against a real local MLflow store (sqlite + files): first model promoted, worse refused, better promoted."""

import pytest

from pipelines import registry
from pipelines.pipeline import run_all, run_stage
from pipelines.promotion import decide
from pipelines.validation import DataValidationError


def test_decide_rule():
    assert decide("ndcg_at_10", 0.1, None, 0.0) == (True, "no champion yet: first model is promoted")
    assert decide("ndcg_at_10", 0.30, 0.20, 0.05)[0] is True
    assert decide("ndcg_at_10", 0.22, 0.20, 0.05)[0] is False
    assert decide("ndcg_at_10", 0.10, 0.20, 0.0, force=True)[0] is True


@pytest.mark.integration
@pytest.mark.slow
def test_gate_promotes_better_refuses_worse(settings):
    import mlflow

    base = settings.model_copy(update={"epochs": 1, "learning_rate": 0.001})
    first = run_all(base, run_id="first")
    assert first["promote"]["promoted"] and first["register"]["version"] == "1"

    worse = run_all(base.model_copy(update={"epochs": 0}), run_id="worse")  # untrained model
    assert not worse["promote"]["promoted"], worse["promote"]
    assert worse["promote"]["champion_value"] > worse["promote"]["challenger_value"]

    better = run_all(base.model_copy(update={"epochs": 6, "learning_rate": 0.005}), run_id="better")
    assert better["promote"]["promoted"], better["promote"]["reason"]

    champion = registry.get_alias_version(settings, registry.CHAMPION)
    assert str(champion.version) == better["register"]["version"] == "3"
    assert str(registry.get_alias_version(settings, registry.CHALLENGER).version) == "3"
    rejected = mlflow.get_run(worse["register"]["run_id"])
    assert rejected.data.tags["promotion.decision"] == "rejected"
    # champion and challenger side by side on the same exact split: accuracy and beyond-accuracy metrics
    side_by_side = {"ndcg_at_10", "recall_at_10", "map_at_10", "coverage_at_10", "novelty_at_10",
                    "popularity_bias_at_10", "diversity_at_10", "sampled_ndcg_at_10"}  # fmt: skip
    assert side_by_side <= set(rejected.data.metrics)
    assert {f"champion_{name}" for name in side_by_side} <= set(rejected.data.metrics)
    assert worse["evaluate"]["eval_users"] > 0 and "ndcg_at_10_ci95" in worse["evaluate"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(first["register"]["run_id"])}
    assert {"validation", "recommender", "training_curve.png"} <= artifacts

    # idempotent: re-running register for the same run id reuses its version
    again = run_stage("register", "better", {"epochs": 6, "learning_rate": 0.005}, base)
    assert again["reused"] and again["version"] == "3"

    # a challenger that wins on NDCG (margin -1) but would shrink coverage below 10x the champion's is refused
    guarded = base.model_copy(
        update={"epochs": 2, "promotion_margin": -1.0, "guardrail_min_coverage_ratio": 10.0}
    )
    refused = run_all(guarded, run_id="guarded")
    assert not refused["promote"]["promoted"], refused["promote"]
    assert "guardrail refuses it: coverage_at_10" in refused["promote"]["reason"]
    assert str(registry.get_alias_version(settings, registry.CHAMPION).version) == "3"

    loaded = registry.load_champion(settings)
    user = int(loaded.recommender.maps.user_ids[0])
    recs = loaded.recommender.top_k(user, 10)
    assert len(recs) == 10 and not {m for m, _ in recs} & loaded.recommender.seen(user)


@pytest.mark.integration
def test_bad_batch_stops_before_training_and_registers_nothing(settings, tmp_path):
    import mlflow

    bad_root = tmp_path / "data"
    (bad_root / "ml-latest-small").mkdir(parents=True)
    src = settings.data_root / "ml-latest-small"
    (bad_root / "ml-latest-small" / "movies.csv").write_text((src / "movies.csv").read_text())
    lines = (src / "ratings.csv").read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 2)[0] + ",9.5," + lines[5].rsplit(",", 1)[1]  # rating out of range
    (bad_root / "ml-latest-small" / "ratings.csv").write_text("\n".join(lines) + "\n")
    cfg = settings.model_copy(update={"data_root": bad_root})
    with pytest.raises(DataValidationError, match="rating"):
        run_all(cfg, run_id="bad")
    assert not (cfg.runs_dir / "bad" / "train.json").exists()
    assert (cfg.runs_dir / "bad" / "validation" / "validation_ratings.json").exists()
    mlflow.set_tracking_uri(cfg.mlflow_tracking_uri)
    assert registry.get_alias_version(cfg, registry.CHAMPION) is None


def test_validate_applies_the_configured_future_skew(settings):
    """A click stamped 300 s ahead passes with max_future_skew_s=600 and stops validation with 60."""
    import json
    import time

    from pipelines.run_store import RunStore
    from pipelines.validation import DataValidationError

    event = {"event_id": "00000000-0000-4000-8000-000000000001", "user_id": 1, "movie_id": 1, "event": "like",
             "ts": int(time.time() * 1000) + 300_000, "source": "test"}  # fmt: skip
    for run_id, skew, ok in (("skew-wide", 600, True), ("skew-narrow", 60, False)):
        store = RunStore(settings.runs_dir, run_id)
        store.path("feedback.jsonl").write_text(json.dumps(event) + "\n")
        params = {"max_future_skew_s": skew}
        if ok:
            assert run_stage("validate", run_id, params, settings)["feedback_events"] == 1
        else:
            with pytest.raises(DataValidationError):
                run_stage("validate", run_id, params, settings)


def _land_windows(cfg, rows: list[tuple[str, str, int, int]]) -> None:
    """Online-metrics rows as the Flink online job lands them: (variant, version, impressions, clicks@10)."""
    import json
    import time

    part = cfg.online_metrics_dir / "dt=2026-12-01"
    part.mkdir(parents=True, exist_ok=True)
    start = int(time.time() * 1000) - 3_600_000
    lines = [json.dumps({"window_start": start + n * 60_000, "window_end": start + (n + 1) * 60_000,
                         "model_name": cfg.model_name, "model_version": version, "variant": variant,
                         "strategy": "personalized", "impressions": impressions, "clicks": clicks,
                         "clicks_at_10": clicks, "ctr_at_10": clicks / impressions, "mean_clicked_position": 2.0})
             for n, (variant, version, impressions, clicks) in enumerate(rows)]  # fmt: skip
    (part / f"part-{len(list(part.iterdir()))}").write_text("\n".join(lines) + "\n")


@pytest.mark.integration
@pytest.mark.slow
def test_online_policy_promotes_the_version_that_won_the_ab_test_and_refuses_a_loser(settings):
    import mlflow

    base = settings.model_copy(update={"epochs": 1, "online_min_impressions": 500})
    assert run_all(base, run_id="v1")["promote"]["promoted"]  # first model: champion v1
    assert run_all(base.model_copy(update={"epochs": 0}), run_id="v2")["register"]["version"] == "2"
    online = base.model_copy(update={"promotion_policy": "online"})

    # v2 served the challenger arm and lost: refused, v1 stays champion, this run's v3 becomes the challenger
    _land_windows(online, [("champion", "1", 600, 90), ("challenger", "2", 600, 40)])
    lost = run_all(online, run_id="v3")["promote"]
    assert not lost["promoted"] and "version 2 vs 1" in lost["reason"] and "does not beat" in lost["reason"]
    assert str(registry.get_alias_version(settings, registry.CHAMPION).version) == "1"
    assert str(registry.get_alias_version(settings, registry.CHALLENGER).version) == "3"
    run = mlflow.get_run(run_stage("register", "v3", None, online)["run_id"])
    assert run.data.metrics["online_champion_impressions"] == 600 and "online_p_value" in run.data.metrics

    # v3 is served against v1 and clearly wins: the next run promotes v3 (not its own v4)
    _land_windows(online, [("champion", "1", 800, 80), ("challenger", "3", 800, 160)])
    won = run_all(online, run_id="v4")["promote"]
    assert won["promoted"] and won["challenger_version"] == "3", won["reason"]
    assert str(registry.get_alias_version(settings, registry.CHAMPION).version) == "3"
    version = registry.client().get_model_version(settings.model_name, "3")
    assert float(version.tags["online.ctr_at_10"]) == pytest.approx(0.2)
