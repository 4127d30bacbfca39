"""Shared serving fixtures (a pytest plugin; registered in tests/conftest.py): one tiny champion trained once per session, a real tansu broker, real `bentoml serve` replicas."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from infra.processes import ManagedProcess, free_port, http_ok
from infra.serving_process import serve_command
from pipelines.settings import QUIET_ENV, Settings
from tests.helpers import REPO_ROOT, small_settings


@pytest.fixture(scope="session")
def serving_settings(tmp_path_factory) -> Settings:
    """Settings for the whole serving session: own var dir, the committed ml-latest-small slice, a broker on a free port."""
    return small_settings(
        tmp_path_factory.mktemp("serving") / "var",
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        model_poll_interval_s=1.0,
        click_ack_timeout_s=2.0,
        # a champion that has learned tastes (not only popularity), so fresh likes can move a list
        epochs=10,
        embedding_dim=32,
    )


@pytest.fixture(scope="session")
def trained(serving_settings: Settings) -> Settings:
    """Train + register + promote one champion (version 1) into the session's MLflow sqlite store."""
    from pipelines.pipeline import run_all

    result = run_all(serving_settings, run_id="serving-v1")
    assert result["promote"]["promoted"], result["promote"]
    return serving_settings


@pytest.fixture(scope="session")
def champion(trained: Settings):
    """The registered champion loaded in the test process (the same object the service serves)."""
    from pipelines.registry import load_champion

    champ = load_champion(trained)
    assert champ is not None
    return champ


@pytest.fixture(scope="session")
def broker(serving_settings: Settings) -> Iterator[str]:
    """A real tansu broker (memory storage) for the session; yields its bootstrap address."""
    from infra.broker import start_broker, stop_broker

    start_broker(serving_settings)
    yield serving_settings.kafka_bootstrap
    stop_broker(serving_settings)


def serving_process(settings: Settings, name: str, port: int) -> ManagedProcess:
    """`bentoml serve` as a real subprocess, configured only through MOVIEREC_* environment variables."""
    env = {
        "MOVIEREC_VAR_DIR": str(settings.var_dir),
        "MOVIEREC_DATA_ROOT": str(settings.data_root),
        "MOVIEREC_DATASET": settings.dataset,
        "MOVIEREC_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "MOVIEREC_MODEL_POLL_INTERVAL_S": str(settings.model_poll_interval_s),
        "MOVIEREC_CLICK_ACK_TIMEOUT_S": str(settings.click_ack_timeout_s),
        "MOVIEREC_SERVING_PORT": str(port),
        "BENTOML_HOME": str(settings.var_dir / "bentoml"),
        "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        **QUIET_ENV,
    }
    command = serve_command(settings.model_copy(update={"serving_host": "127.0.0.1", "serving_port": port}))
    return ManagedProcess(name=name, cmd=command, pids_dir=settings.pids_dir, logs_dir=settings.logs_dir, env=env,
                          cwd=REPO_ROOT, ready=lambda: http_ok(f"http://127.0.0.1:{port}/readyz"))  # fmt: skip


def start_all(processes: list[ManagedProcess], timeout: float = 120.0) -> None:
    """Start processes side by side (each start waits for its readiness)."""
    errors: list[BaseException] = []

    def run(proc: ManagedProcess) -> None:
        try:
            proc.start(timeout=timeout)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in processes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for p in processes:
            p.stop()
        raise errors[0]
