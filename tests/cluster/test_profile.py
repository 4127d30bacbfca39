"""Cluster profile without engines: loopback-only Flink config, settings of the profile, clear refusals."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from infra import stack
from infra.cli import app
from infra.cluster import flink_cluster, flink_submit, postgres, profile
from pipelines.settings import PROJECT_ROOT, Settings
from tests.helpers import free_port


def test_every_flink_address_is_loopback(tmp_path):
    config = flink_cluster.cluster_config(Settings(var_dir=tmp_path))
    addresses = {k: v for k, v in config.items() if k.endswith(("address", "bind-host", ".host"))}
    assert len(addresses) >= 6 and set(addresses.values()) == {"127.0.0.1"}
    assert str(tmp_path) in str(config["io.tmp.dirs"])


def test_flatten_turns_nested_yaml_into_flink_keys():
    assert flink_cluster.flatten({"a": {"b": {"c": 1}, "d": "x"}}) == {"a.b.c": 1, "a.d": "x"}


def test_profile_ports_are_apart_from_the_embedded_defaults(tmp_path):
    base = Settings(var_dir=tmp_path)
    cluster = Settings(
        **{k.removeprefix("MOVIEREC_").lower(): v for k, v in profile.cluster_overrides(base).items()}
    )
    embedded = {base.mlflow_port, base.airflow_port, base.serving_port, 9092, 8080, 5000, 3000}
    assert not set(profile.ports(cluster).values()) & embedded
    assert cluster.var_dir == base.var_dir / "cluster"
    assert cluster.feedback_postgres_url.endswith(f"/{postgres.database_name(cluster, 'feedback')}")


def test_run_command_submits_the_embedded_job_module(tmp_path):
    settings = Settings(var_dir=tmp_path, flink_parallelism=2)
    cmd = flink_submit.run_command(settings, tmp_path / "s.json")
    assert cmd[cmd.index("-pym") + 1] == "streaming.job" and cmd[cmd.index("--parallelism") + 1] == "2"
    assert "--detached" in cmd and cmd[cmd.index("-pyexec") + 1] == str(settings.venv_python("flink"))


def test_no_postgres_says_so_and_starts_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(profile.shutil, "which", lambda name: "/usr/bin/java")
    settings = Settings(
        var_dir=tmp_path, postgres_url=f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    )
    with pytest.raises(stack.StackError, match="needs PostgreSQL at .* nothing was started"):
        profile.preflight(settings)
    assert not (tmp_path / "pids").exists()


def test_no_java_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(profile.shutil, "which", lambda name: None)
    with pytest.raises(stack.StackError, match="Java not found"):
        profile.preflight(Settings(var_dir=tmp_path))


def test_unknown_profile_is_one_clear_line():
    result = CliRunner().invoke(app, ["stack", "status", "--profile", "kubernetes"])
    assert result.exit_code == 1 and "unknown profile 'kubernetes'" in result.output


def test_profile_airflow_runs_localexecutor_on_postgres_like_compose(tmp_path):
    import yaml

    from infra.cluster import airflow_pg

    settings = Settings(var_dir=tmp_path, postgres_url="postgresql://u@127.0.0.1:5432/postgres")
    env = airflow_pg.airflow_process(settings).env
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())["x-airflow"]["environment"]
    conn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert conn == f"postgresql+psycopg2://u@127.0.0.1:5432/{postgres.database_name(settings, 'airflow')}"
    assert conn.split("://")[0] == compose["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].split("://")[0]
    assert env["AIRFLOW__CORE__EXECUTOR"] == compose["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert int(env["AIRFLOW__CORE__PARALLELISM"]) == settings.cluster_airflow_parallelism >= 2


def test_overlap_measures_only_what_ran_at_once():
    from infra.cluster.airflow_drill import Interval, cross_run_overlap, max_concurrent

    serial = [Interval("r1", "a", "success", 0, 10), Interval("r2", "a", "success", 10, 20)]
    assert max_concurrent(serial) == 1 and cross_run_overlap(serial) == 0
    parallel = [*serial[:1], Interval("r1", "b", "success", 1, 9), Interval("r2", "a", "success", 4, 12)]
    assert max_concurrent(parallel) == 3 and cross_run_overlap(parallel) == 6
