"""The Airflow component supervisor, with a stand-in `airflow` executable on PATH (the real one is exercised by
the e2e test): migrate first, one process per component, all stopped when one dies or on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from infra.airflow_components import COMPONENTS
from infra.processes import pid_alive, wait_for

FAKE_AIRFLOW = """#!/usr/bin/env bash
echo "$$ $*" >> "{calls}"
case "$1" in
  db) exit 0 ;;
  {dies}) sleep 1; exit 3 ;;
  *) exec sleep 60 ;;
esac
"""


def start_supervisor(tmp_path: Path, dies: str = "none") -> tuple[subprocess.Popen, Path]:
    calls = tmp_path / "calls.txt"
    fake = tmp_path / "bin" / "airflow"
    fake.parent.mkdir()
    fake.write_text(FAKE_AIRFLOW.format(calls=calls, dies=dies))
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-m", "infra.airflow_components"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    return proc, calls


def started(calls: Path) -> dict[str, int]:
    """component -> pid of the stand-in, from the calls file."""
    if not calls.exists():
        return {}
    rows = [line.split(" ", 2) for line in calls.read_text().splitlines()]
    return {row[1]: int(row[0]) for row in rows if row[1] in COMPONENTS}


def test_migrates_then_runs_every_component_without_log_servers_and_stops_on_sigterm(tmp_path):
    proc, calls = start_supervisor(tmp_path)
    try:
        assert wait_for(lambda: len(started(calls)) == len(COMPONENTS), timeout=20)
        lines = calls.read_text().splitlines()
        assert lines[0].split(" ", 1)[1] == "db migrate"
        args = {line.split(" ", 2)[1]: line.split(" ", 2)[2:] for line in lines[1:]}
        assert args == {"api-server": [], "scheduler": ["--skip-serve-logs"], "dag-processor": [],
                        "triggerer": ["--skip-serve-logs"]}  # fmt: skip
        pids = started(calls)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        proc.kill()
    assert not [name for name, pid in pids.items() if pid_alive(pid)]


def test_one_component_dying_stops_the_others_and_fails(tmp_path):
    proc, calls = start_supervisor(tmp_path, dies="triggerer")
    try:
        started_at = time.monotonic()
        assert proc.wait(timeout=40) == 1
        output = proc.stdout.read()
    finally:
        proc.kill()
    assert "component(s) exited: {'triggerer': 3}" in output, output
    assert time.monotonic() - started_at < 35
    assert not [name for name, pid in started(calls).items() if pid_alive(pid)]
