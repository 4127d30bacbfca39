"""`make up PROFILE=cluster` and `make down PROFILE=cluster`, literally, as a user runs them: every engine of the
profile starts (moto, tansu on s3://, Flink session cluster + landing and online jobs, MLflow and Airflow on PostgreSQL, a
first champion trained by the DAG, 2 serving replicas), a like on one replica reaches the other within 2 s, and
`make down` leaves no process and no port behind.

Own ports, var dir and PostgreSQL databases (settings.cluster_database_prefix), dropped at the end, so a profile
you run yourself is untouched. Skipped, with the reason, where PostgreSQL or Java is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from infra.cluster import freshness, postgres, profile
from infra.processes import descendants, pid_alive, port_open
from pipelines.online_metrics import read_online_metrics
from pipelines.settings import Settings
from tests.helpers import FIXTURE_DATA_ROOT, REPO_ROOT, free_port, wait_until
from tests.plugins.streaming import postgres_available

pytestmark = [pytest.mark.slow, pytest.mark.integration]
USER = 1  # a user of the fixture data set, known to the model


def consecutive_free_ports(n: int) -> int:
    """A port p with p .. p+n-1 free (the replicas listen on consecutive ports)."""
    for _ in range(50):
        first = free_port()
        if first + n < 65535 and not any(port_open("127.0.0.1", first + i) for i in range(n)):
            return first
    raise RuntimeError(f"no {n} consecutive free ports found")


def make(target: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["make", target, "PROFILE=cluster"], cwd=REPO_ROOT, env=env, timeout=timeout,
                          text=True, capture_output=True)  # fmt: skip


@pytest.fixture
def profile_env(tmp_path) -> tuple[dict[str, str], Settings]:
    """MOVIEREC_* of a small, private cluster profile, and the Settings its processes will see."""
    values = {
        "MOVIEREC_VAR_DIR": str(tmp_path / "var"),
        "MOVIEREC_DATA_ROOT": str(FIXTURE_DATA_ROOT),
        "MOVIEREC_DATASET": "ml-latest-small",
        "MOVIEREC_CLUSTER_PORT_OFFSET": "0",  # the free embedded ports below are the profile's
        "MOVIEREC_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "MOVIEREC_MLFLOW_PORT": str(free_port()),
        "MOVIEREC_AIRFLOW_PORT": str(free_port()),
        "MOVIEREC_SERVING_PORT": str(consecutive_free_ports(2)),
        "MOVIEREC_S3_PORT": str(free_port()),
        "MOVIEREC_FLINK_REST_PORT": str(free_port()),
        "MOVIEREC_FLINK_RPC_PORT": str(free_port()),
        "MOVIEREC_CLUSTER_DATABASE_PREFIX": f"mrtest_{uuid.uuid4().hex[:8]}",
        "MOVIEREC_ONLINE_WINDOW_S": "5",  # online rows a few seconds after the replicas' impressions
        "MOVIEREC_ONLINE_ALLOWED_LATENESS_S": "5",
        "MOVIEREC_EPOCHS": "2",
        "MOVIEREC_EMBEDDING_DIM": "8",
        "MOVIEREC_MLP_LAYERS": "[16, 8]",
        "MOVIEREC_MODEL_POLL_INTERVAL_S": "2",
        "MOVIEREC_RETRAIN_SCHEDULE": "",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOVIEREC_")}
    env.update(values)

    def fields(env_values: dict[str, str]) -> dict[str, str]:  # the scalar ones: all this test reads
        return {
            k.removeprefix("MOVIEREC_").lower(): v for k, v in env_values.items() if not v.startswith("[")
        }

    cluster = Settings(**{**fields(values), **fields(profile.cluster_overrides(Settings(**fields(values))))})
    if shutil.which("java") is None or not postgres_available():
        pytest.skip("the cluster profile needs Java 17 on PATH and PostgreSQL on 127.0.0.1:5432")
    return env, cluster


def test_make_up_cluster_then_make_down_leaves_nothing(profile_env):
    env, settings = profile_env
    started: set[int] = set()
    try:
        up = make("up", env, timeout=1500)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        assert "The cluster profile is up" in up.stdout, up.stdout[-4000:]
        for proc in profile.processes(settings):
            pid = proc.pid()
            assert pid, f"{proc.name} is not running after make up"
            started |= {pid, *descendants(pid)}

        status = make("status", env, timeout=120)
        assert status.returncode == 0 and "landing job" in status.stdout, status.stdout + status.stderr
        assert "online job" in status.stdout and "stopped" not in status.stdout, status.stdout
        assert "not running" not in status.stdout, status.stdout  # both Flink jobs run in the cluster

        fresh = freshness.check(profile.replica_ports(settings), USER, budget_s=2.0)
        assert fresh["ok"], fresh
        # the replicas' impressions reach the online job (parallelism 2, fed by the watermark ticker) and land
        assert settings.flink_online_parallelism == 2
        wait_until(
            lambda: int(read_online_metrics(settings)["impressions"].sum()) > 0,
            timeout=120, interval=2, what="online metric rows of the cluster's online job",
        )  # fmt: skip
    finally:
        down = make("down", env, timeout=300)
        for role in ("mlflow", "feedback", "airflow"):
            postgres.drop_database(settings, postgres.database_name(settings, role))
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
    assert not [pid for pid in started if pid_alive(pid)], "processes left running after make down"
    assert not [p for p in profile.ports(settings).values() if port_open("127.0.0.1", p)], "ports left open"
