"""Small helpers shared by tests (ports, waiting, registry state)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from infra.processes import free_port, wait_for  # noqa: F401 - re-exported for the tests
from pipelines.settings import OFFLINE_DATA_ROOT, Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE_DATA_ROOT = REPO_ROOT / "tests" / "fixtures"
# Browser tests write here, never over the tracked docs/screenshots/ (`make screenshots` copies them there).
SCREENSHOTS_DIR = REPO_ROOT / "var" / "screenshots"
SHARED_DATA_ROOT = OFFLINE_DATA_ROOT


def wait_until(
    predicate: Callable[[], bool], timeout: float, interval: float = 0.2, what: str = "condition"
) -> None:
    """wait_for that raises: tests fail with what they were waiting for."""
    if not wait_for(predicate, timeout, interval):
        raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def small_settings(var_dir: Path, **overrides) -> Settings:
    """Settings for a fresh var dir and the committed ml-latest-small slice, with a tiny quick model."""
    base = {
        "var_dir": var_dir,
        "data_root": FIXTURE_DATA_ROOT,
        "dataset": "ml-latest-small",
        "epochs": 2,
        "batch_size": 512,
        "embedding_dim": 8,
        "mlp_layers": (16, 8),
    }
    return Settings(**{**base, **overrides})


def registry_state(tracking_uri: str, model_name: str) -> tuple[str, list[str]]:
    """(champion version, all versions) as the MLflow tracking store/server at tracking_uri reports them."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    champion = str(client.get_model_version_by_alias(model_name, "champion").version)
    return champion, sorted(str(v.version) for v in client.search_model_versions(f"name = '{model_name}'"))


def read_topic(bootstrap: str, topic: str, partitions: int, want: int, timeout: float = 10.0) -> list:
    from confluent_kafka import Consumer, TopicPartition

    """Every record of the topic from offset 0 (no consumer group), until `want` records or the timeout."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    records, deadline = [], time.monotonic() + timeout
    try:
        while len(records) < want and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                records.append(msg)
    finally:
        consumer.close()
    return records


def same_but_request_id(got: bytes, expected: bytes) -> bool:
    """Two recommendation bodies are byte-equal once their request_id (a fresh uuid4 per answer) is aligned."""
    import json

    ours, theirs = json.loads(got)["request_id"], json.loads(expected)["request_id"]
    return got.replace(ours.encode(), theirs.encode()) == expected
