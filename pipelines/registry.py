"""MLflow tracking + registry: log a trained run, register it, the champion/challenger gate, load the champion."""

from __future__ import annotations

import logging
import tempfile
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
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
    try:
        with urllib.request.urlopen(f"{tracking_uri.rstrip('/')}/health", timeout=timeout) as resp:  # noqa: S310
            return 200 <= resp.status < 300
    except (OSError, ValueError):
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
    return [f"{name}=={pkg_version(name)}" for name in ("tensorflow-cpu", "keras", "numpy", "pandas", "mlflow")]


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


@dataclass
class GateDecision:
    promoted: bool
    reason: str
    metric: str
    challenger_version: str
    challenger_value: float
    champion_version: str | None = None
    champion_value: float | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def decide(metric: str, challenger_value: float, champion_value: float | None, margin: float,
           force: bool = False) -> tuple[bool, str]:  # fmt: skip
    """The gate rule alone (pure, unit-tested): promote the first model, a forced one, or a clear winner."""
    if champion_value is None:
        return True, "no champion yet: first model is promoted"
    if force:
        return True, f"force_promote: {metric} {challenger_value:.4f} vs champion {champion_value:.4f}"
    if challenger_value > champion_value + margin:
        return True, f"{metric} {challenger_value:.4f} beats champion {champion_value:.4f} by more than {margin}"
    return False, f"{metric} {challenger_value:.4f} does not beat champion {champion_value:.4f} by more than {margin}"


def set_aliases(cfg: Settings, version: str, promoted: bool) -> None:
    c = client()
    c.set_registered_model_alias(cfg.model_name, CHALLENGER, version)
    if promoted:
        c.set_registered_model_alias(cfg.model_name, CHAMPION, version)


@dataclass
class Champion:
    model_name: str
    version: str
    run_id: str
    metrics: dict[str, float]
    loaded_at: datetime
    recommender: object  # pipelines.scoring.Recommender


def load_version(cfg: Settings, version) -> Champion:
    """Load a registered version's Keras model and its recommender bundle."""
    import mlflow

    from pipelines.models import KerasScorer
    from pipelines.scoring import BUNDLE_DIR, Recommender

    model = mlflow.keras.load_model(f"models:/{cfg.model_name}/{version.version}")
    with tempfile.TemporaryDirectory(prefix="movierec-bundle-") as tmp:
        folder = mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=BUNDLE_DIR, dst_path=tmp)
        recommender = Recommender(KerasScorer(model), Path(folder))
    metrics = client().get_run(version.run_id).data.metrics
    return Champion(cfg.model_name, str(version.version), version.run_id, dict(metrics),
                    datetime.now(timezone.utc), recommender)  # fmt: skip


def load_champion(cfg: Settings) -> Champion | None:
    """The model behind the `champion` alias, ready to serve; None when there is no champion yet."""
    import mlflow

    mlflow.set_tracking_uri(cfg.mlflow_tracking_uri)
    version = get_alias_version(cfg, CHAMPION)
    return None if version is None else load_version(cfg, version)
