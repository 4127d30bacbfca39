"""docker-compose.yml parses with a real compose implementation, has no fixed secrets, and follows the cluster
profile (infra/cluster): same engines, Flink keys, `flink run` options, databases, artifact store and settings."""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.cluster import flink_cluster, flink_submit, mlflow_pg, postgres, profile, secrets
from pipelines.settings import Settings
from tests.helpers import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|JWT|FERNET|TOKEN")


@pytest.fixture(scope="module")
def compose_bin() -> str:
    path = shutil.which("docker-compose")
    assert path, "docker-compose not installed: run `bash infra/install_system_deps.sh`"
    return path


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose_config(compose_bin: str, env_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [compose_bin, "--env-file", str(env_file), "-f", str(COMPOSE), "config", "--services"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )  # fmt: skip


def test_compose_file_is_valid_with_generated_secrets(compose_bin, tmp_path):
    assert secrets.write(tmp_path / ".env")
    result = compose_config(compose_bin, tmp_path / ".env")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) >= set(profile.COMPOSE_SERVICES.values()) | {
        "serving-2",
        "airflow-apiserver",
    }


def test_compose_refuses_to_start_without_secrets(compose_bin, tmp_path):
    (tmp_path / "empty.env").write_text("")
    result = compose_config(compose_bin, tmp_path / "empty.env")
    assert result.returncode != 0
    assert "run make secrets" in result.stderr


def test_make_secrets_writes_random_values_once(tmp_path):
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    assert secrets.write(first) and secrets.write(second) and not secrets.write(first)
    values = [dict(line.split("=", 1) for line in p.read_text().splitlines() if "=" in line and line[0] != "#")
              for p in (first, second)]  # fmt: skip
    assert set(values[0]) == set(secrets.SECRETS) and all(len(v) >= 32 for v in values[0].values())
    assert not set(values[0].values()) & set(values[1].values())
    assert first.stat().st_mode & 0o077 == 0
    assert not any(name.startswith("MOVIEREC_") for name in secrets.SECRETS), (
        "pipelines.settings reads .env too"
    )


def environment_items(compose: dict):
    blocks = [s.get("environment") for s in compose["services"].values()]
    blocks += [compose["x-movierec-env"], compose["x-airflow"]["environment"]]
    for block in blocks:
        if isinstance(block, dict):
            yield from block.items()


def test_compose_has_no_fixed_secrets(compose):
    fixed = [(k, v) for k, v in environment_items(compose)
             if SECRET_NAME.search(k) and "_FILE" not in k and ":?" not in str(v) and not str(v).startswith("/")]  # fmt: skip
    assert not fixed, f"fixed secrets in docker-compose.yml: {fixed}"
    text = COMPOSE.read_text()
    assert "change-me" not in text and "movierec-secret" not in text


def test_compose_uses_existing_settings_names():
    names = set(re.findall(r"MOVIEREC_([A-Z_]+)", COMPOSE.read_text()))
    fields = {name.upper() for name in Settings.model_fields}
    assert names and names <= fields, f"unknown settings in docker-compose.yml: {sorted(names - fields)}"


def test_compose_ports_bind_loopback_only():
    for port in re.findall(r"ports: \[(.*?)\]", COMPOSE.read_text()):
        assert port.strip('"').startswith("127.0.0.1:"), port


def test_compose_and_cluster_profile_name_the_same_engines(compose):
    assert set(profile.COMPOSE_SERVICES.values()) <= set(compose["services"])
    names = {p.name for p in profile.processes(Settings())}
    assert {"s3", "broker", "flink-jobmanager", "mlflow", "airflow"} <= names
    assert {"flink-taskmanager", "serving"} <= {n.rsplit("-", 1)[0] for n in names}


def test_compose_flink_keys_are_the_profile_keys(compose):
    props = yaml.safe_load(compose["x-flink-properties"]["FLINK_PROPERTIES"])
    local = flink_cluster.cluster_config(Settings())
    assert set(props) <= set(local)
    differ = {
        k: (v, local[k])
        for k, v in props.items()
        if k != "jobmanager.rpc.address" and str(v) != str(local[k])
    }
    assert not differ, f"compose and the cluster profile set different Flink values: {differ}"
    assert compose["services"]["flink-taskmanager"]["deploy"]["replicas"] == Settings().flink_taskmanagers


@pytest.mark.parametrize("service, job", [("flink-job", "landing"), ("flink-online-job", "online")])
def test_compose_submits_like_the_profile(compose, service, job):
    command = shlex.split(compose["services"][service]["command"][0].split("&&", 1)[1])
    overrides = profile.cluster_overrides(Settings())  # the profile's online parallelism, as compose sets it
    cluster = Settings(flink_online_parallelism=int(overrides["MOVIEREC_FLINK_ONLINE_PARALLELISM"]))
    assert compose["x-movierec-env"]["MOVIEREC_FLINK_ONLINE_PARALLELISM"] == str(
        cluster.flink_online_parallelism
    )
    local = flink_submit.run_command(cluster, Path("/tmp/settings.json"), job=job)
    options = {token for token in command if token.startswith("-")}
    assert options <= {token for token in local if token.startswith("-")}
    for flag in ("--parallelism", "-pym", "--mode"):
        assert command[command.index(flag) + 1] == local[local.index(flag) + 1], flag
    topics = compose["services"]["topics"]["command"]
    assert topics[-3:] == ["streaming", "topics", "create"]
    assert compose["x-movierec-env"]["MOVIEREC_CLICKS_PARTITIONS"] == str(Settings().flink_parallelism)


def test_compose_mlflow_and_feedback_stores_are_the_profile_stores(compose):
    mlflow = compose["services"]["mlflow"]["command"][0]
    assert f"--artifacts-destination {mlflow_pg.ARTIFACTS}" in mlflow
    backend = re.search(r"--backend-store-uri postgresql\+psycopg://.*?@postgres:5432/(\w+)", mlflow)
    mlflow_db = postgres.database_name(Settings(), "mlflow")
    assert backend and backend.group(1) == mlflow_db
    assert mlflow_pg.mlflow_process(Settings()).cmd[-3] == postgres.database_url(
        Settings(), mlflow_db, "+psycopg"
    )
    names = {role: postgres.database_name(Settings(), role) for role in ("mlflow", "feedback", "airflow")}
    assert compose["x-movierec-env"]["MOVIEREC_FEEDBACK_POSTGRES_URL"].endswith(f"/{names['feedback']}")
    init_sql = (REPO_ROOT / "infra" / "docker" / "postgres-init.sql").read_text()
    assert all(f"CREATE DATABASE {name};" in init_sql for name in names.values())


def test_airflow_image_installs_the_profile_metadata_db_drivers(compose):
    """The profile's Airflow env gets psycopg2 + asyncpg from locks/airflow.txt; the image must pin the same ones,
    or compose's `postgresql+psycopg2://` metadata DB fails only at container start."""
    dockerfile = (REPO_ROOT / "infra" / "docker" / "Dockerfile.airflow").read_text()
    lock = (REPO_ROOT / "locks" / "airflow.txt").read_text()
    install = re.search(r"pip install [^\n]*-c /opt/movierec/locks/airflow\.txt ([^\n]+)", dockerfile)
    assert install, "Dockerfile.airflow does not install the metadata-DB drivers at the lock's versions"
    for driver in ("psycopg2-binary", "asyncpg"):
        assert driver in install.group(1).split() and re.search(rf"^{driver}==", lock, re.M), driver
    airflow_envs = [
        svc.get("environment", {}) for name, svc in compose["services"].items() if "airflow" in name
    ]
    conns = {env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "") for env in airflow_envs} - {""}
    assert conns and all(c.startswith("postgresql+psycopg2://") for c in conns), conns  # the driver installed
    assert {c.rsplit("/", 1)[1] for c in conns} == {postgres.database_name(Settings(), "airflow")}
