"""Cluster profile without engines: loopback-only Flink config, settings of the profile, clear refusals."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from infra import stack
from infra.cli import app
from infra.cluster import flink_cluster, flink_submit, postgres, profile
from pipelines.settings import Settings
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
    assert cluster.feedback_postgres_url.endswith(f"/{postgres.FEEDBACK_DB}")


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
