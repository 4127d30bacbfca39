"""Small helpers shared by tests (ports, waiting, registry state)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from infra.processes import wait_for
from pipelines.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE_DATA_ROOT = REPO_ROOT / "tests" / "fixtures"
SHARED_DATA_ROOT = REPO_ROOT.parent / "shared" / "data" / "movielens"


def free_port() -> int:
    """A free TCP port on loopback (tests never use the stack's fixed ports)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2, what: str = "condition") -> None:
    """wait_for that raises: tests fail with what they were waiting for."""
    if not wait_for(predicate, timeout, interval):
        raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def small_settings(var_dir: Path, **overrides) -> Settings:
    """Settings for a fresh var dir and the committed ml-latest-small slice, with a tiny quick model."""
    base = {"var_dir": var_dir, "data_root": FIXTURE_DATA_ROOT, "dataset": "ml-latest-small", "epochs": 2,
            "batch_size": 512, "embedding_dim": 8, "mlp_layers": (16, 8)}
    return Settings(**{**base, **overrides})


def registry_state(tracking_uri: str, model_name: str) -> tuple[str, list[str]]:
    """(champion version, all versions) as the MLflow tracking store/server at tracking_uri reports them."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    champion = str(client.get_model_version_by_alias(model_name, "champion").version)
    return champion, sorted(str(v.version) for v in client.search_model_versions(f"name = '{model_name}'"))
