"""Start/stop/status of the landing job (long-running, via ManagedProcess) and bounded landing runs.

Runs in any env; the job itself (`python -m streaming.job`) always runs in the Flink env
(`settings.venv_python("flink")`) and gets the launcher's exact settings as a JSON file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from infra.processes import ManagedProcess
from pipelines.settings import Settings
from streaming.checkpoints import BOUNDED, LONG_RUNNING
from streaming.offsets import commit_offsets, committed_offsets, high_watermarks

JOB_NAME = "flink-landing"


def _flink_dir(settings: Settings) -> Path:
    path = settings.var_dir / "flink"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_settings(settings: Settings, name: str) -> Path:
    """Dump the settings for the job process (it re-reads exactly these values, not its environment)."""
    path = _flink_dir(settings) / f"{name}.settings.json"
    path.write_text(settings.model_dump_json())
    return path


def job_command(settings: Settings, mode: str, settings_file: Path, *extra: str) -> list[str]:
    python = settings.venv_python("flink")
    return [str(python), "-m", "streaming.job", "--settings", str(settings_file), "--mode", mode, *extra]


def status_file(settings: Settings) -> Path:
    return _flink_dir(settings) / f"{JOB_NAME}.status.json"


def read_status(settings: Settings) -> dict:
    try:
        return json.loads(status_file(settings).read_text())
    except (OSError, ValueError):
        return {}


def job_process(settings: Settings, fresh: bool = False) -> ManagedProcess:
    """The long-running job as a ManagedProcess; ready once the job is submitted (status file has our PID)."""
    extra = ["--status-file", str(status_file(settings))] + (["--fresh"] if fresh else [])
    cmd = job_command(settings, LONG_RUNNING, _flink_dir(settings) / f"{JOB_NAME}.settings.json", *extra)
    proc = ManagedProcess(name=JOB_NAME, cmd=cmd, pids_dir=settings.pids_dir, logs_dir=settings.logs_dir)
    proc.ready = lambda: read_status(settings).get("pid") == proc.pid()
    return proc


def start_job(settings: Settings, fresh: bool = False, timeout: float = 180.0) -> int:
    """Start (or reuse) the long-running job; restores from the latest retained checkpoint unless `fresh`."""
    proc = job_process(settings, fresh)
    if proc.pid() is None:
        write_settings(settings, JOB_NAME)
        status_file(settings).unlink(missing_ok=True)
    return proc.start(timeout=timeout)


def stop_job(settings: Settings) -> bool:
    """SIGTERM the job's process group (retained checkpoints stay for the next start)."""
    stopped = job_process(settings).stop(grace=20.0)
    status_file(settings).unlink(missing_ok=True)
    return stopped


def job_status(settings: Settings) -> dict:
    proc = job_process(settings)
    pid = proc.pid()
    return {
        "pid": pid,
        "running": pid is not None,
        **(read_status(settings) if pid else {}),
        "log": str(proc.log_file),
    }


def pending_offsets(settings: Settings) -> tuple[dict[int, int], dict[int, int]]:
    """(start, stop): the group's committed offsets (0 when none) and the true end offsets of the clicks topic."""
    stop = high_watermarks(settings.kafka_bootstrap, settings.clicks_topic)
    committed = committed_offsets(
        settings.kafka_bootstrap, settings.flink_consumer_group, settings.clicks_topic, list(stop)
    )
    return {p: committed[p] or 0 for p in stop}, stop


def run_bounded(settings: Settings, timeout: float = 900.0) -> dict:
    """Land everything produced so far and stop: stop offsets = true high watermarks, then commit them.

    Refuses while the long-running job is up (two landers would race on the same consumer group).
    """
    if job_process(settings).running():
        raise RuntimeError("the long-running landing job is running; it already lands everything")
    start, stop = pending_offsets(settings)
    pending = sum(stop[p] - start[p] for p in stop)
    summary = {"start_offsets": start, "stop_offsets": stop, "pending": pending, "seconds": 0.0}
    if pending <= 0:
        return summary
    settings_file = write_settings(settings, "flink-bounded")
    cmd = job_command(settings, BOUNDED, settings_file, "--stop-offsets", json.dumps(stop))
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    with open(settings.logs_dir / "flink-bounded.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the JVM and the Python UDF workers share its process group
        proc.wait()
        raise
    if returncode != 0:
        tail = (settings.logs_dir / "flink-bounded.log").read_text(errors="replace").splitlines()[-40:]
        raise RuntimeError(f"bounded landing run failed ({returncode}):\n" + "\n".join(tail))
    commit_offsets(settings.kafka_bootstrap, settings.flink_consumer_group, settings.clicks_topic, stop)
    summary["seconds"] = round(time.monotonic() - began, 1)
    return summary
