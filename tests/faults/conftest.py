"""Fault-test stack: a tiny champion in its own MLflow store, a real `mlflow server` on it, a local S3 emulator
(moto) holding a durable tansu broker, and one real `bentoml serve` replica that reads the champion through the
MLflow server and publishes clicks to that broker. Everything on free loopback ports, stopped by PID.

The serving fixtures of the tests.plugins.serving plugin are re-registered here (not copied): that gives this
directory its own session champion, so stopping *this* MLflow server never touches the serving tests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.broker import broker_process
from infra.mlflow_server import mlflow_process, server_url
from infra.processes import ManagedProcess, port_open
from pipelines.settings import Settings
from tests.helpers import free_port
from tests.plugins.serving import champion, serving_process, serving_settings, start_all, trained  # noqa: F401

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
BUCKET = "tansu"


@dataclass
class FaultStack:
    """Handles on the processes the fault tests break and restart."""

    settings: Settings  # the service's view: S3 broker bootstrap, MLflow server URI
    store: (
        Settings  # the MLflow store the server serves (the session champion's var dir), on the server's port
    )
    moto: ManagedProcess
    broker: ManagedProcess
    mlflow: ManagedProcess
    service: ManagedProcess
    base_url: str


def s3_env(endpoint: str) -> dict[str, str]:
    """What tansu's s3:// engine needs to talk to a local emulator (test credentials, plain HTTP)."""
    return {"AWS_ENDPOINT": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


def moto_process(settings: Settings, port: int) -> ManagedProcess:
    return ManagedProcess("moto-s3", [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
                          settings.pids_dir, settings.logs_dir, cwd=settings.logs_dir,
                          ready=lambda: port_open("127.0.0.1", port))  # fmt: skip


def create_bucket(endpoint: str) -> None:
    import boto3

    env = s3_env(endpoint)
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_DEFAULT_REGION"]
                 ).create_bucket(Bucket=BUCKET)  # fmt: skip


@pytest.fixture(scope="session")
def fault_stack(
    trained: Settings,  # noqa: F811 - the directory-local fixture above
    tmp_path_factory,
) -> Iterator[FaultStack]:
    store = trained.model_copy(update={"mlflow_port": free_port()})
    uri = server_url(store)
    settings = trained.model_copy(update={
        "var_dir": tmp_path_factory.mktemp("faults") / "var",  # own pids/logs: no clash with the serving session
        "kafka_bootstrap": f"127.0.0.1:{free_port()}",
        "mlflow_tracking_uri": uri,
    })  # fmt: skip
    s3_port = free_port()
    endpoint = f"http://127.0.0.1:{s3_port}"
    moto = moto_process(settings, s3_port)
    broker = broker_process(settings, storage_engine=f"s3://{BUCKET}/", env=s3_env(endpoint))
    mlflow = mlflow_process(store)
    service = serving_process(settings, "serving-faults", free_port())
    service.env = {**service.env, "MOVIEREC_MLFLOW_TRACKING_URI": uri}
    started: list[ManagedProcess] = []
    try:
        started.extend((moto, mlflow))
        start_all([moto, mlflow], timeout=180)
        create_bucket(endpoint)
        started.append(broker)
        broker.start(timeout=30)
        started.append(service)
        service.start(timeout=240)
        yield FaultStack(
            settings, store, moto, broker, mlflow, service, f"http://127.0.0.1:{service.cmd[-1]}"
        )
    finally:
        for proc in reversed(started):
            proc.stop()
