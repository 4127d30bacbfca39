"""The retraining pipeline as stages that hand off through files in `var/runs/<run_id>/`.

validate -> preprocess -> train -> evaluate -> register -> promote. Each stage takes (run_id, params),
returns a small JSON-serialisable dict, and is idempotent for its run_id. The CLI runs them in a row; the
Airflow DAG runs each in its own task.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.settings import Settings, get_settings

log = logging.getLogger(__name__)

STAGES = ("validate", "preprocess", "train", "evaluate", "register", "promote")
CONTROL_KEYS = {"force_promote", "tags"}


@dataclass
class RunContext:
    run_id: str
    cfg: Settings
    params: dict[str, Any]

    @property
    def dir(self) -> Path:
        return self.cfg.runs_dir / self.run_id

    def path(self, *parts: str) -> Path:
        p = self.dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write_json(self, name: str, payload: Any) -> dict:
        self.path(name).write_text(json.dumps(payload, indent=2, default=str))
        return payload

    def read_json(self, name: str) -> Any:
        path = self.dir / name
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing; run the earlier stages of run {self.run_id!r} first")
        return json.loads(path.read_text())


def context(run_id: str, params: dict | None = None, base: Settings | None = None) -> RunContext:
    """Settings = base settings + the run's overrides (dataset, epochs, model_type, ...)."""
    params = dict(params or {})
    base = base or get_settings()
    overrides = {k: v for k, v in params.items() if k not in CONTROL_KEYS and v is not None}
    cfg = base.model_copy(update=overrides) if overrides else base
    cfg = Settings(**cfg.model_dump()) if overrides else cfg  # re-validate the overridden values
    return RunContext(run_id, cfg, params)


# --- stages -------------------------------------------------------------------------------------------


def validate(ctx: RunContext) -> dict:
    """Load the dataset (+ the run's feedback snapshot), run the great-expectations suites, keep the reports."""
    from pipelines.data import load_movielens
    from pipelines.validation import DataValidationError, validate_feedback, validate_movies, validate_ratings

    data = load_movielens(ctx.cfg.data_root, ctx.cfg.dataset)
    ratings = data.ratings
    if ctx.cfg.max_ratings:
        ratings = ratings.sort_values("timestamp", kind="stable").head(ctx.cfg.max_ratings)
    feedback = read_feedback_snapshot(ctx)
    reports = []
    try:
        for fn, df in ((validate_ratings, ratings), (validate_movies, data.movies), (validate_feedback, feedback)):
            reports.append(fn(df))
    except DataValidationError as exc:
        exc.report.write(ctx.dir / "validation")
        raise
    for report in reports:
        report.write(ctx.dir / "validation")
    ratings.to_parquet(ctx.path("data", "ratings.parquet"))
    data.movies.to_parquet(ctx.path("data", "movies.parquet"))
    unknown = int((~feedback.movie_id.isin(data.movies.item_id)).sum()) if len(feedback) else 0
    summary = {"dataset": ctx.cfg.dataset, "ratings": len(ratings), "users": int(ratings.user_id.nunique()),
               "movies": len(data.movies), "feedback_events": len(feedback), "feedback_unknown_movies": unknown,
               "reports": [r.summary() for r in reports]}  # fmt: skip
    log.info("validated %s: %d ratings, %d movies, %d feedback events", ctx.cfg.dataset, len(ratings),
             len(data.movies), len(feedback))  # fmt: skip
    return ctx.write_json("validate.json", summary)


def read_feedback_snapshot(ctx: RunContext) -> pd.DataFrame:
    """The feedback events frozen for this run (written by the DAG's load_feedback task), or an empty frame."""
    path = ctx.dir / "feedback.jsonl"
    columns = ["event_id", "user_id", "movie_id", "event", "ts", "source"]
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("user_id", "movie_id", "ts") else "object")
                             for c in columns})  # fmt: skip
    return pd.read_json(path, lines=True, dtype={"event_id": str, "event": str, "source": str})


def preprocess(ctx: RunContext) -> dict:
    """Implicit positives (ratings + feedback on known movies), id maps, the protocol's split."""
    from pipelines.features import IdMaps, full_ranking_split, leave_one_out_split, to_implicit

    ratings = pd.read_parquet(ctx.dir / "data" / "ratings.parquet")
    movies = pd.read_parquet(ctx.dir / "data" / "movies.parquet")
    feedback = read_feedback_snapshot(ctx)
    if len(feedback):
        feedback = feedback[feedback.movie_id.isin(movies.item_id)]
    interactions = to_implicit(ratings, feedback)
    maps = IdMaps.fit(interactions)
    encoded = maps.encode(interactions)
    cfg = ctx.cfg
    if cfg.split_protocol == "leave_one_out":
        split = leave_one_out_split(encoded, maps.n_items, cfg.num_eval_negatives, cfg.seed)
        np.save(ctx.path("split", "test_negatives.npy"), split.test_negatives)
    else:
        split = full_ranking_split(encoded, 0.75, cfg.seed)
    split.train.to_parquet(ctx.path("split", "train.parquet"))
    split.test.to_parquet(ctx.path("split", "test.parquet"))
    interactions.to_parquet(ctx.path("split", "interactions.parquet"))
    maps.save(ctx.path("split", "id_maps.json"))
    summary = {**split.summary(), "users": maps.n_users, "items": maps.n_items, "interactions": len(interactions),
               "feedback_positives": len(feedback)}  # fmt: skip
    log.info("preprocessed: %s", summary)
    return ctx.write_json("preprocess.json", summary)


def load_split(ctx: RunContext):
    from pipelines.features import IdMaps, Split

    protocol = ctx.read_json("preprocess.json")["protocol"]
    negatives = np.load(ctx.dir / "split" / "test_negatives.npy") if protocol == "leave_one_out" else None
    split = Split(protocol, pd.read_parquet(ctx.dir / "split" / "train.parquet"),
                  pd.read_parquet(ctx.dir / "split" / "test.parquet"), negatives)  # fmt: skip
    return split, IdMaps.load(ctx.dir / "split" / "id_maps.json")


def train(ctx: RunContext) -> dict:
    from pipelines.train import train_model

    split, maps = load_split(ctx)
    result = train_model(split, maps.n_users, maps.n_items, ctx.cfg, pretrain=ctx.cfg.neumf_pretrain)
    result.model.save(ctx.path("model", "model.keras"))
    ctx.write_json("history.json", result.history)
    summary = {"model_type": ctx.cfg.model_type, "epochs": ctx.cfg.epochs, "train_seconds": round(result.train_seconds, 2),
               "final_loss": result.history[-1]["loss"] if result.history else None}  # fmt: skip
    return ctx.write_json("train.json", summary)


def load_trained_model(ctx: RunContext):
    import keras

    return keras.saving.load_model(ctx.dir / "model" / "model.keras")


def evaluate(ctx: RunContext) -> dict:
    """Held-out metrics of the trained model and of the popularity baseline (same split)."""
    from pipelines.evaluate import evaluate as evaluate_scorer
    from pipelines.models import KerasScorer
    from pipelines.train import popularity_scorer

    split, maps = load_split(ctx)
    k = ctx.cfg.top_k
    model_metrics = evaluate_scorer(KerasScorer(load_trained_model(ctx)), split, maps.n_users, maps.n_items, k)
    baseline = evaluate_scorer(popularity_scorer(split, maps.n_items), split, maps.n_users, maps.n_items, k)
    metrics = {**model_metrics, **{f"popularity_{name}": v for name, v in baseline.items()}}
    log.info("evaluation (%s): %s", split.protocol, ", ".join(f"{n}={v:.4f}" for n, v in metrics.items()))
    return ctx.write_json("metrics.json", metrics)


def register(ctx: RunContext) -> dict:
    """One MLflow run for this pipeline run (reused on re-runs): params, curves, reports, bundle, model version."""
    import mlflow

    from pipelines import registry
    from pipelines.scoring import BUNDLE_DIR, cold_start_scores, save_bundle

    cfg = ctx.cfg
    registry.configure(cfg)
    existing = registry.find_run_by_key(cfg, ctx.run_id)
    if existing is not None:
        version = registry.find_version_for_run(cfg, existing.info.run_id)
        if version is not None:
            log.info("run %s already registered as version %s", ctx.run_id, version.version)
            return ctx.write_json("register.json", {"run_id": existing.info.run_id, "version": str(version.version),
                                                    "model_name": cfg.model_name, "reused": True})  # fmt: skip
        mlflow.delete_run(existing.info.run_id)  # a half-written earlier attempt: start clean
    metrics = ctx.read_json("metrics.json")
    history = ctx.read_json("history.json")
    tags = {registry.RUN_KEY_TAG: ctx.run_id, "dataset": cfg.dataset, "protocol": ctx.read_json("preprocess.json")["protocol"],
            "model_type": cfg.model_type, **{k: str(v) for k, v in (ctx.params.get("tags") or {}).items()}}  # fmt: skip
    bundle = ctx.dir / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    split, maps = load_split(ctx)
    ratings = pd.read_parquet(ctx.dir / "data" / "ratings.parquet")
    save_bundle(bundle, maps, pd.read_parquet(ctx.dir / "split" / "interactions.parquet"),
                pd.read_parquet(ctx.dir / "data" / "movies.parquet"), cold_start_scores(ratings, cfg.cold_start_min_count))
    model = load_trained_model(ctx)
    with mlflow.start_run(run_name=f"{cfg.model_type}-{ctx.run_id}", tags=tags) as run:
        mlflow.log_params({k: getattr(cfg, k) for k in (
            "dataset", "model_type", "split_protocol", "epochs", "batch_size", "embedding_dim", "mlp_layers",
            "learning_rate", "l2", "loss", "ranking_l2", "users_per_batch", "neumf_pretrain", "num_negatives",
            "num_eval_negatives", "top_k", "seed", "max_ratings")})
        mlflow.log_params({"n_users": maps.n_users, "n_items": maps.n_items, "train_rows": len(split.train),
                           "test_rows": len(split.test)})  # fmt: skip
        for step, row in enumerate(history, start=1):
            mlflow.log_metrics({f"epoch_{k}": v for k, v in row.items()}, step=step)
        mlflow.log_metrics(metrics)
        mlflow.log_figure(registry.plot_training_curve(history, cfg.promotion_metric), "training_curve.png")
        mlflow.log_artifacts(str(ctx.dir / "validation"), "validation")
        mlflow.log_artifacts(str(bundle), BUNDLE_DIR)
        info = mlflow.keras.log_model(model, name="model", signature=registry.model_signature(),
                                      pip_requirements=registry.pip_requirements())  # fmt: skip
        version = mlflow.register_model(info.model_uri, cfg.model_name, tags={registry.RUN_KEY_TAG: ctx.run_id})
    registry.client().set_registered_model_alias(cfg.model_name, registry.CHALLENGER, version.version)
    log.info("registered %s version %s (run %s)", cfg.model_name, version.version, run.info.run_id)
    return ctx.write_json("register.json", {"run_id": run.info.run_id, "version": str(version.version),
                                            "model_name": cfg.model_name, "reused": False})  # fmt: skip


def promote(ctx: RunContext) -> dict:
    """The gate: the challenger becomes champion only if it beats the champion on the same held-out split."""
    import mlflow

    from pipelines import registry

    cfg = ctx.cfg
    registry.configure(cfg)
    reg = ctx.read_json("register.json")
    metric = cfg.promotion_metric
    challenger_value = float(ctx.read_json("metrics.json")[metric])
    champion = registry.get_alias_version(cfg, registry.CHAMPION)
    champion_value, basis = None, None
    if champion is not None and str(champion.version) == reg["version"]:
        decision = registry.GateDecision(True, "already champion", metric, reg["version"], challenger_value,
                                         reg["version"], challenger_value)  # fmt: skip
        return ctx.write_json("promote.json", decision.to_dict())
    if champion is not None:
        champion_value, basis = champion_on_this_split(ctx, champion)
    promoted, reason = registry.decide(metric, challenger_value, champion_value, cfg.promotion_margin,
                                       bool(ctx.params.get("force_promote")))  # fmt: skip
    if promoted:
        registry.client().set_registered_model_alias(cfg.model_name, registry.CHAMPION, reg["version"])
    decision = registry.GateDecision(promoted, reason, metric, reg["version"], challenger_value,
                                     None if champion is None else str(champion.version), champion_value,
                                     {"champion_metric_basis": basis})  # fmt: skip
    with mlflow.start_run(run_id=reg["run_id"]):
        mlflow.set_tags({"promotion.decision": "promoted" if promoted else "rejected", "promotion.reason": reason,
                         "promotion.champion_version": str(decision.champion_version)})  # fmt: skip
        if champion_value is not None:
            mlflow.log_metric(f"champion_{metric}", champion_value)
    log.info("promotion decision for version %s: %s (%s)", reg["version"], "PROMOTED" if promoted else "kept champion",
             reason)  # fmt: skip
    return ctx.write_json("promote.json", decision.to_dict())


def champion_on_this_split(ctx: RunContext, champion) -> tuple[float, str]:
    """Re-score the current champion on the challenger's held-out split (fair comparison).

    Falls back to the champion's own logged metric if its model cannot be loaded.
    """
    from pipelines import registry
    from pipelines.evaluate import evaluate as evaluate_scorer

    metric = ctx.cfg.promotion_metric
    try:
        loaded = registry.load_version(ctx.cfg, champion)
        split, maps = load_split(ctx)
        scorer = TranslatedScorer(loaded.recommender, maps)
        value = evaluate_scorer(scorer, split, maps.n_users, maps.n_items, ctx.cfg.top_k)[metric]
        return float(value), "re-evaluated on the challenger's split"
    except Exception as exc:  # noqa: BLE001 - the gate must still decide; the reason is recorded
        log.warning("could not re-evaluate champion %s (%s); using its logged metric", champion.version, exc)
        logged = registry.client().get_run(champion.run_id).data.metrics.get(metric)
        return (float(logged) if logged is not None else float("-inf")), "champion's logged metric"


class TranslatedScorer:
    """Scores the challenger's index space with another model: ids unknown to that model score -inf."""

    def __init__(self, recommender, maps):
        self.scorer = recommender.scorer
        self.user_map = recommender.maps.user_index(maps.user_ids)
        self.item_map = recommender.maps.item_index(maps.item_ids)

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        u, i = self.user_map[users], self.item_map[items]
        ok = (u >= 0) & (i >= 0)
        out = np.full(len(users), -np.inf, dtype=np.float32)
        if ok.any():
            out[ok] = self.scorer.score(u[ok], i[ok])
        return out


STAGE_FUNCTIONS = {"validate": validate, "preprocess": preprocess, "train": train, "evaluate": evaluate,
                   "register": register, "promote": promote}  # fmt: skip


def run_stage(stage: str, run_id: str, params: dict | None = None, base: Settings | None = None) -> dict:
    """Run one stage for run_id; the entry point of the Airflow tasks."""
    if stage not in STAGE_FUNCTIONS:
        raise ValueError(f"unknown stage {stage!r}; stages are {STAGES}")
    ctx = context(run_id, params, base)
    started = time.perf_counter()
    result = STAGE_FUNCTIONS[stage](ctx)
    log.info("stage %s of run %s done in %.1fs", stage, run_id, time.perf_counter() - started)
    return result


def run_all(cfg: Settings | None = None, run_id: str | None = None, params: dict | None = None) -> dict:
    """validate -> ... -> promote in one process; returns every stage's summary."""
    run_id = run_id or time.strftime("manual__%Y%m%dT%H%M%S")
    results = {}
    for stage in STAGES:
        results[stage] = run_stage(stage, run_id, params, cfg)
    results["run_id"] = run_id
    return results
