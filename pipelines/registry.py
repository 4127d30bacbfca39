"""MLflow tracking + registry: log and register a trained run, log the gate's decision, load a version."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as pkg_version
from pathlib import Path

import numpy as np

from pipelines.settings import Settings

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
RUN_KEY_TAG = "movierec.run_key"


class RegistryUnavailableError(RuntimeError):
    """The MLflow tracking server did not answer: nothing was logged or registered, the champion is unchanged."""


def server_answers(tracking_uri: str, timeout: float = 5.0) -> bool:
    """True when an http(s) tracking server answers /health (always True for local stores)."""
    if not tracking_uri.startswith(("http://", "https://")):
        return True
    import httpx

    try:
        return httpx.get(f"{tracking_uri.rstrip('/')}/health", timeout=timeout).is_success
    except (httpx.HTTPError, ValueError):
        return False


def configure(cfg: Settings) -> str:
    """Point MLflow at the configured store; create the experiment (with a local artifact root) if needed.

    Raises RegistryUnavailableError (retryable) when the tracking server is down.
    """
    import mlflow

    mlflow.set_tracking_uri(cfg.mlflow_tracking_uri)
    try:
        experiment = mlflow.get_experiment_by_name(cfg.mlflow_experiment)
    except Exception as exc:
        if server_answers(cfg.mlflow_tracking_uri):
            raise
        raise RegistryUnavailableError(
            f"MLflow tracking server {cfg.mlflow_tracking_uri} is unreachable; nothing was registered and the "
            f"champion is unchanged (retry once it is back). Cause: {type(exc).__name__}: {str(exc)[:400]}"
        ) from exc
    if experiment is None:
        local_store = not cfg.mlflow_tracking_uri.startswith(("http://", "https://", "databricks"))
        location = cfg.mlflow_artifact_root.as_uri() if local_store else None
        if local_store:
            cfg.mlflow_artifact_root.mkdir(parents=True, exist_ok=True)
        experiment_id = mlflow.create_experiment(cfg.mlflow_experiment, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def client():
    from mlflow import MlflowClient

    return MlflowClient()


def model_signature():
    from mlflow.models import infer_signature

    example = {"user": np.array([0, 1], dtype=np.int32), "item": np.array([3, 4], dtype=np.int32)}
    return infer_signature(example, np.array([0.5, 0.1], dtype=np.float32))


def pip_requirements() -> list[str]:
    return [
        f"{name}=={pkg_version(name)}" for name in ("tensorflow-cpu", "keras", "numpy", "pandas", "mlflow")
    ]


def find_run_by_key(cfg: Settings, run_key: str):
    """The MLflow run already created for this pipeline run (re-runs reuse it), or None."""
    import mlflow

    runs = mlflow.search_runs(
        experiment_names=[cfg.mlflow_experiment], filter_string=f"tags.`{RUN_KEY_TAG}` = '{run_key}'",
        output_format="list",
    )  # fmt: skip
    return runs[0] if runs else None


def find_version_for_run(cfg: Settings, run_id: str):
    versions = client().search_model_versions(f"name = '{cfg.model_name}' and run_id = '{run_id}'")
    return versions[0] if versions else None


def plot_training_curve(history: list[dict], metric: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax1 = plt.subplots(figsize=(6, 3.5))
    epochs = range(1, len(history) + 1)
    ax1.plot(epochs, [h["loss"] for h in history], "o-", color="tab:blue", label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss", color="tab:blue")
    ax2 = ax1.twinx()
    ax2.plot(epochs, [h.get(metric, np.nan) for h in history], "s-", color="tab:orange", label=metric)
    ax2.set_ylabel(metric, color="tab:orange")
    fig.tight_layout()
    return fig


def get_alias_version(cfg: Settings, alias: str):
    """The model version behind an alias, or None when the alias (or the model) does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client().get_model_version_by_alias(cfg.model_name, alias)
    except MlflowException:
        return None


def log_training_run(cfg: Settings, run_key: str, tags: dict[str, str], model, store) -> tuple[str, str]:
    """One MLflow run for a trained model: params, curves, reports, bundle, model; registered as `challenger`.

    Returns (mlflow run id, model version).
    """
    import mlflow

    from pipelines.scoring import BUNDLE_DIR
    from pipelines.settings import TRAINING_FIELDS

    split, maps = store.split()
    history = store.read_json("history.json")
    with mlflow.start_run(run_name=f"{cfg.model_type}-{run_key}", tags={RUN_KEY_TAG: run_key, **tags}) as run:
        mlflow.log_params({k: getattr(cfg, k) for k in TRAINING_FIELDS})
        mlflow.log_params({"n_users": maps.n_users, "n_items": maps.n_items, "train_rows": len(split.train),
                           "test_rows": len(split.test)})  # fmt: skip
        for step, row in enumerate(history, start=1):
            mlflow.log_metrics({f"epoch_{k}": v for k, v in row.items()}, step=step)
        mlflow.log_metrics(store.read_json("metrics.json"))
        mlflow.log_figure(plot_training_curve(history, cfg.promotion_metric), "training_curve.png")
        mlflow.log_artifacts(str(store.validation_dir), "validation")
        mlflow.log_artifacts(str(store.bundle_dir), BUNDLE_DIR)
        info = mlflow.keras.log_model(model, name="model", signature=model_signature(),
                                      pip_requirements=pip_requirements())  # fmt: skip
        version = mlflow.register_model(info.model_uri, cfg.model_name, tags={RUN_KEY_TAG: run_key})
    client().set_registered_model_alias(cfg.model_name, CHALLENGER, version.version)
    return run.info.run_id, str(version.version)


def log_decision(run_id: str, decision: dict, champion_metrics: dict[str, float]) -> None:
    """The gate's decision as tags, and every champion metric re-scored on the same split as `champion_<name>`.

    So one run shows challenger and champion side by side, and MLflow's compare view lines runs up.
    """
    import mlflow

    with mlflow.start_run(run_id=run_id):
        mlflow.set_tags({"promotion.decision": "promoted" if decision["promoted"] else "rejected",
                         "promotion.reason": decision["reason"],
                         "promotion.champion_version": str(decision["champion_version"])})  # fmt: skip
        champion = {
            f"champion_{name}": value
            for name, value in champion_metrics.items()
            if np.isfinite(value) and not name.startswith("champion_")
        }
        if champion:
            mlflow.log_metrics(champion)


@dataclass
class Champion:
    model_name: str
    version: str
    run_id: str
    metrics: dict[str, float]
    loaded_at: datetime
    recommender: object  # pipelines.scoring.Recommender


def load_version(cfg: Settings, version) -> Champion:
    """A registered version ready to serve: its bundle, with the NumPy scorer when the bundle has one.

    Bundles with `fast_scorer.npz` never load the Keras model, so the service need not import TensorFlow
    (older bundles fall back to the registered Keras model).
    """
    import mlflow

    from pipelines.scoring import BUNDLE_DIR, FAST_SCORER_FILE, Recommender

    with tempfile.TemporaryDirectory(prefix="movierec-bundle-") as tmp:
        folder = Path(
            mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=BUNDLE_DIR, dst_path=tmp)
        )
        scorer = None
        if not (folder / FAST_SCORER_FILE).exists():
            from pipelines.models import KerasScorer

            scorer = KerasScorer(mlflow.keras.load_model(f"models:/{cfg.model_name}/{version.version}"))
        recommender = Recommender(scorer, folder, foldin_config(cfg))
    metrics = client().get_run(version.run_id).data.metrics
    return Champion(cfg.model_name, str(version.version), version.run_id, dict(metrics),
                    datetime.now(UTC), recommender)  # fmt: skip


def foldin_config(cfg: Settings):
    """The fold-in the service applies to fresh clicks (settings `foldin_*`)."""
    from pipelines.foldin import FoldInConfig

    return FoldInConfig(method=cfg.foldin_method, scale=cfg.foldin_scale, ridge_lambda=cfg.foldin_ridge_lambda,
                        unobserved_weight=cfg.foldin_unobserved_weight, shrinkage=cfg.foldin_shrinkage,
                        combine=cfg.foldin_combine, popular_quantile=cfg.foldin_popular_quantile,
                        known_scale=cfg.foldin_known_scale, max_clicks=cfg.foldin_max_clicks)  # fmt: skip


def load_champion(cfg: Settings, alias: str = CHAMPION) -> Champion | None:
    """The model behind `alias` (the `champion` by default), ready to serve; None when the alias is not set."""
    import mlflow

    mlflow.set_tracking_uri(cfg.mlflow_tracking_uri)
    version = get_alias_version(cfg, alias)
    return None if version is None else load_version(cfg, version)
