"""docker-compose.yml parses with a real compose implementation and uses the same settings names."""

import re
import shutil
import subprocess

import pytest

from pipelines.settings import Settings
from tests.helpers import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
REQUIRED_SERVICES = {
    "kafka",
    "postgres",
    "minio",
    "mlflow",
    "flink-jobmanager",
    "flink-taskmanager",
    "flink-job",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "serving",
}


@pytest.fixture(scope="module")
def compose_bin() -> str:
    path = shutil.which("docker-compose")
    assert path, "docker-compose not installed: run `bash infra/install_system_deps.sh`"
    return path


def test_compose_file_is_valid(compose_bin):
    result = subprocess.run(
        [compose_bin, "-f", str(COMPOSE), "config", "--services"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) >= REQUIRED_SERVICES


def test_compose_uses_existing_settings_names():
    names = set(re.findall(r"MOVIEREC_([A-Z_]+)", COMPOSE.read_text()))
    fields = {name.upper() for name in Settings.model_fields}
    assert names and names <= fields, f"unknown settings in docker-compose.yml: {sorted(names - fields)}"


def test_compose_ports_bind_loopback_only():
    for port in re.findall(r"ports: \[(.*?)\]", COMPOSE.read_text()):
        assert port.strip('"').startswith("127.0.0.1:"), port
