"""The retraining pipeline as stages that hand off through a run folder (`pipelines.run_store`).

validate -> preprocess -> train -> evaluate -> register -> promote. Each stage takes a RunContext, returns a
small JSON-serialisable dict (also written to the run folder), and is idempotent for its run id. The CLI runs
them in a row; the Airflow DAG runs each in its own task. The work itself lives in the library modules.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from pipelines.run_store import RunStore
from pipelines.settings import Settings, get_settings

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

STAGES = ("validate", "preprocess", "train", "evaluate", "register", "promote")
CONTROL_KEYS = {"force_promote", "tags"}


@dataclass
class RunContext:
    run_id: str
    cfg: Settings
    params: dict[str, Any]
    store: RunStore


def context(run_id: str, params: dict | None = None, base: Settings | None = None) -> RunContext:
    """Settings = base settings + the run's overrides (dataset, epochs, model_type, ...)."""
    params = dict(params or {})
    base = base or get_settings()
    overrides = {k: v for k, v in params.items() if k not in CONTROL_KEYS and v is not None}
    cfg = Settings(**base.model_copy(update=overrides).model_dump()) if overrides else base  # re-validated
    return RunContext(run_id, cfg, params, RunStore(cfg.runs_dir, run_id))


# --- stages -------------------------------------------------------------------------------------------


def validate_stage(ctx: RunContext) -> dict:
    """Load the dataset (+ the run's feedback snapshot), run the great-expectations suites, keep the reports."""
    from pipelines.catalog import read_additions, with_additions
    from pipelines.data import load_movielens
    from pipelines.validation import (
        DataValidationError,
        validate_added_movies,
        validate_feedback,
        validate_movies,
        validate_ratings,
        validate_users,
    )

    cfg, store = ctx.cfg, ctx.store
    data = load_movielens(cfg.data_root, cfg.dataset)
    added = read_additions(cfg.catalog_additions_file)
    movies = with_additions(data.movies, added)
    ratings = data.ratings
    if cfg.max_ratings:
        ratings = ratings.sort_values("timestamp", kind="stable").head(cfg.max_ratings)
    feedback = store.feedback()
    check_feedback = partial(validate_feedback, max_future_skew_s=cfg.max_future_skew_s)
    reports = []
    try:
        checks: list[tuple[Callable[[pd.DataFrame], Any], pd.DataFrame]] = [
            (validate_ratings, ratings), (validate_added_movies, added), (validate_movies, movies),
            (check_feedback, feedback),
        ]  # fmt: skip
        if data.users is not None:
            checks.append((validate_users, data.users))
        for check, df in checks:
            reports.append(check(df))
    except DataValidationError as exc:
        exc.report.write(store.validation_dir)
        raise
    for report in reports:
        report.write(store.validation_dir)
    store.save_data(ratings, movies, data.users)
    unknown = int((~feedback.movie_id.isin(movies.item_id)).sum()) if len(feedback) else 0
    summary = {"dataset": cfg.dataset, "ratings": len(ratings), "users": int(ratings.user_id.nunique()),
               "movies": len(movies), "added_movies": len(movies) - len(data.movies), "feedback_events": len(feedback), "feedback_unknown_movies": unknown,
               "reports": [r.summary() for r in reports]}  # fmt: skip
    log.info("validated %s: %d ratings, %d movies, %d feedback events", cfg.dataset, len(ratings),
             len(movies), len(feedback))  # fmt: skip
    return store.write_json("validate.json", summary)


def preprocess_stage(ctx: RunContext) -> dict:
    """Implicit positives (ratings + feedback on known movies), id maps, the protocol's split."""
    from pipelines.features import IdMaps, full_ranking_split, leave_one_out_split, to_implicit

    cfg, store = ctx.cfg, ctx.store
    movies, feedback = store.movies(), store.feedback()
    if len(feedback):
        feedback = feedback[feedback.movie_id.isin(movies.item_id)]
    interactions = to_implicit(store.ratings(), feedback)
    maps = IdMaps.fit(interactions)
    encoded = maps.encode(interactions)
    if cfg.split_protocol == "leave_one_out":
        split = leave_one_out_split(encoded, maps.n_items, cfg.num_eval_negatives, cfg.seed)
    else:
        split = full_ranking_split(
            encoded, cfg.holdout_ratio, cfg.seed, by_time=cfg.split_protocol == "temporal"
        )
    store.save_split(split, interactions, maps)
    summary = {**split.summary(), "users": maps.n_users, "items": maps.n_items, "interactions": len(interactions),
               "feedback_positives": len(feedback)}  # fmt: skip
    log.info("preprocessed: %s", summary)
    return store.write_json("preprocess.json", summary)


def train_stage(ctx: RunContext) -> dict:
    from pipelines.content import build_content_inputs
    from pipelines.models import CONTENT_MODEL_TYPES
    from pipelines.train import train_model

    cfg, store = ctx.cfg, ctx.store
    split, maps = store.split()
    content = None
    if cfg.model_type in CONTENT_MODEL_TYPES:
        content = build_content_inputs(
            store.movies(), maps.item_ids, maps.user_ids, split.train, store.users()
        )
        content.spec.save(store.content_spec_dir)
    result = train_model(split, maps.n_users, maps.n_items, cfg, pretrain=cfg.neumf_pretrain, content=content)
    result.model.save(store.model_file)
    store.write_json("history.json", result.history)
    summary = {"model_type": cfg.model_type, "epochs": cfg.epochs, "train_seconds": round(result.train_seconds, 2),
               "final_loss": result.history[-1]["loss"] if result.history else None}  # fmt: skip
    return store.write_json("train.json", summary)


def evaluate_stage(ctx: RunContext) -> dict:
    """Held-out metrics of the trained model and of the popularity baseline (same split)."""
    from pipelines.evaluate import evaluate, options_for
    from pipelines.train import numpy_scorer, popularity_scorer

    split, maps = ctx.store.split()
    k, options = ctx.cfg.top_k, options_for(ctx.cfg, ctx.store.movies(), maps.item_ids)
    model_metrics = evaluate(
        numpy_scorer(ctx.store.load_model()), split, maps.n_users, maps.n_items, k, options
    )
    baseline = evaluate(popularity_scorer(split, maps.n_items), split, maps.n_users, maps.n_items, k, options)
    metrics = {**model_metrics, **{f"popularity_{name}": v for name, v in baseline.items()}}
    log.info("evaluation (%s): %s", split.protocol, ", ".join(f"{n}={v:.4f}" for n, v in metrics.items()))
    return ctx.store.write_json("metrics.json", metrics)


def register_stage(ctx: RunContext) -> dict:
    """Log + register this run once (a re-run reuses the registered version), alias `challenger`."""
    import mlflow

    from pipelines import registry
    from pipelines.content import ItemFeatureSpec
    from pipelines.fast_scoring import FastScorer
    from pipelines.scoring import cold_start_scores, save_bundle

    cfg, store = ctx.cfg, ctx.store
    registry.configure(cfg)
    existing = registry.find_run_by_key(cfg, ctx.run_id)
    if existing is not None:
        version = registry.find_version_for_run(cfg, existing.info.run_id)
        if version is not None:
            log.info("run %s already registered as version %s", ctx.run_id, version.version)
            return store.write_json("register.json", {"run_id": existing.info.run_id, "version": str(version.version),
                                                      "model_name": cfg.model_name, "reused": True})  # fmt: skip
        mlflow.delete_run(existing.info.run_id)  # a half-written earlier attempt: start clean
    shutil.rmtree(store.bundle_dir, ignore_errors=True)
    _, maps = store.split()
    model = store.load_model()
    save_bundle(store.bundle_dir, maps, store.interactions(), store.movies(),
                cold_start_scores(store.ratings(), cfg.cold_start_min_count), FastScorer.from_keras(model),
                ItemFeatureSpec.load(store.content_spec_dir))  # fmt: skip
    tags = {"dataset": cfg.dataset, "protocol": store.read_json("preprocess.json")["protocol"],
            "model_type": cfg.model_type, **{k: str(v) for k, v in (ctx.params.get("tags") or {}).items()}}  # fmt: skip
    run_id, version = registry.log_training_run(cfg, ctx.run_id, tags, model, store)
    log.info("registered %s version %s (run %s)", cfg.model_name, version, run_id)
    return store.write_json("register.json", {"run_id": run_id, "version": version, "model_name": cfg.model_name,
                                              "reused": False})  # fmt: skip


def promote_stage(ctx: RunContext) -> dict:
    """The gate: the challenger becomes champion only if it beats the champion on the same held-out split."""
    from pipelines.promotion import gate

    decision = gate(ctx.cfg, ctx.store, force=bool(ctx.params.get("force_promote")))
    return ctx.store.write_json("promote.json", decision.to_dict())


STAGE_FUNCTIONS = {"validate": validate_stage, "preprocess": preprocess_stage, "train": train_stage,
                   "evaluate": evaluate_stage, "register": register_stage, "promote": promote_stage}  # fmt: skip


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
    results: dict[str, Any] = {stage: run_stage(stage, run_id, params, cfg) for stage in STAGES}
    return {**results, "run_id": run_id}
