"""`make up` refuses to start anything when a port is taken, Java is missing or the data is missing."""

import socket

import pytest

from infra.processes import free_port
from infra.stack import StackError, preflight, status
from tests.helpers import small_settings


@pytest.fixture
def cfg(tmp_path):
    return small_settings(tmp_path / "var", kafka_bootstrap=f"127.0.0.1:{free_port()}", mlflow_port=free_port(),
                          airflow_port=free_port(), serving_port=free_port())  # fmt: skip


def test_free_ports_and_data_pass(cfg):
    preflight(cfg)


def test_port_taken_by_someone_else_is_named(cfg):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", cfg.airflow_port))
        squatter.listen()
        with pytest.raises(StackError, match=rf"port {cfg.airflow_port} \(airflow\) is already taken"):
            preflight(cfg)
    assert not cfg.pids_dir.exists() or not any(cfg.pids_dir.iterdir()), "nothing may be started"


def test_missing_data_is_named(cfg, tmp_path):
    with pytest.raises(StackError, match="data set not found"):
        preflight(cfg.model_copy(update={"data_root": tmp_path / "nowhere"}))


def test_missing_java_is_named(cfg, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match="Java not found"):
        preflight(cfg)


def test_status_lists_every_component(cfg, capsys):
    status(cfg)
    out = capsys.readouterr().out
    for name in ("broker", "flink-job", "mlflow", "airflow", "serving"):
        assert name in out and "stopped" in out
