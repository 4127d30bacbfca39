"""Start/stop/status of the Flink jobs (long-running, via ManagedProcess) and their bounded runs.

Two jobs: `landing` (`python -m streaming.job`: clicks -> landed feedback) and `online`
(`python -m streaming.online_job`: impressions + clicks -> online A/B metrics, trending). Every function takes
`job` (default: landing). Runs in any env; the jobs always run in the Flink env (`settings.venv_python("flink")`)
and get the launcher's exact settings as a JSON file.
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

LANDING, ONLINE = "landing", "online"
JOB_NAMES = {LANDING: "flink-landing", ONLINE: "flink-online"}  # var/pids/<name>.pid, var/logs/<name>.log
MODULES = {LANDING: "streaming.job", ONLINE: "streaming.online_job"}
JOB_NAME = JOB_NAMES[LANDING]


def _flink_dir(settings: Settings) -> Path:
    path = settings.var_dir / "flink"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_settings(settings: Settings, name: str) -> Path:
    """Dump the settings for the job process (it re-reads exactly these values, not its environment)."""
    path = _flink_dir(settings) / f"{name}.settings.json"
    path.write_text(settings.model_dump_json())
    return path


def job_command(
    settings: Settings, mode: str, settings_file: Path, *extra: str, job: str = LANDING
) -> list[str]:
    python = settings.venv_python("flink")
    return [str(python), "-m", MODULES[job], "--settings", str(settings_file), "--mode", mode, *extra]


def status_file(settings: Settings, job: str = LANDING) -> Path:
    return _flink_dir(settings) / f"{JOB_NAMES[job]}.status.json"


def read_status(settings: Settings, job: str = LANDING) -> dict:
    try:
        return json.loads(status_file(settings, job).read_text())
    except (OSError, ValueError):
        return {}


def job_process(settings: Settings, fresh: bool = False, job: str = LANDING) -> ManagedProcess:
    """The long-running job as a ManagedProcess; ready once the job is submitted (status file has our PID)."""
    name = JOB_NAMES[job]
    extra = ["--status-file", str(status_file(settings, job))] + (["--fresh"] if fresh else [])
    cmd = job_command(settings, LONG_RUNNING, _flink_dir(settings) / f"{name}.settings.json", *extra, job=job)
    proc = ManagedProcess(name=name, cmd=cmd, pids_dir=settings.pids_dir, logs_dir=settings.logs_dir)
    proc.ready = lambda: read_status(settings, job).get("pid") == proc.pid()
    return proc


def start_job(settings: Settings, fresh: bool = False, timeout: float = 180.0, job: str = LANDING) -> int:
    """Start (or reuse) the long-running job; restores from the latest retained checkpoint unless `fresh`."""
    proc = job_process(settings, fresh, job)
    if proc.pid() is None:
        write_settings(settings, JOB_NAMES[job])
        status_file(settings, job).unlink(missing_ok=True)
    return proc.start(timeout=timeout)


def stop_job(settings: Settings, job: str = LANDING) -> bool:
    """SIGTERM the job's process group (retained checkpoints stay for the next start)."""
    stopped = job_process(settings, job=job).stop(grace=20.0)
    status_file(settings, job).unlink(missing_ok=True)
    return stopped


def job_status(settings: Settings, job: str = LANDING) -> dict:
    proc = job_process(settings, job=job)
    pid = proc.pid()
    return {
        "pid": pid,
        "running": pid is not None,
        **(read_status(settings, job) if pid else {}),
        "log": str(proc.log_file),
    }


def pending_offsets(
    settings: Settings, topic: str | None = None, group: str | None = None
) -> tuple[dict[int, int], dict[int, int]]:
    """(start, stop): the group's committed offsets (0 when none) and the true end offsets of the topic
    (default: the clicks topic and the landing job's group)."""
    topic = topic or settings.clicks_topic
    group = group or settings.flink_consumer_group
    stop = high_watermarks(settings.kafka_bootstrap, topic)
    committed = committed_offsets(settings.kafka_bootstrap, group, topic, list(stop))
    return {p: committed[p] or 0 for p in stop}, stop


def _topics(settings: Settings, job: str) -> tuple[str, dict[str, str]]:
    """(consumer group, {stop-offsets key: topic}) of a job."""
    if job == ONLINE:
        return settings.flink_online_consumer_group, {
            "impressions": settings.impressions_topic,
            "clicks": settings.clicks_topic,
        }
    return settings.flink_consumer_group, {"clicks": settings.clicks_topic}


def run_bounded(settings: Settings, timeout: float = 900.0, job: str = LANDING) -> dict:
    """Process everything produced so far and stop: stop offsets = true high watermarks, then commit them.

    Refuses while the long-running job is up (two runs would race on the same consumer group).
    """
    if job_process(settings, job=job).running():
        raise RuntimeError(f"the long-running {job} job is running; it already processes everything")
    group, topics = _topics(settings, job)
    starts, stops = {}, {}
    for key, topic in topics.items():
        starts[key], stops[key] = pending_offsets(settings, topic, group)
    pending = sum(stops[k][p] - starts[k][p] for k in stops for p in stops[k])
    if job == LANDING:
        summary = {"start_offsets": starts["clicks"], "stop_offsets": stops["clicks"], "pending": pending}
    else:
        summary = {"start_offsets": starts, "stop_offsets": stops, "pending": pending}
    summary["seconds"] = 0.0
    if pending <= 0:
        return summary
    name = "flink-bounded" if job == LANDING else f"{JOB_NAMES[job]}-bounded"
    settings_file = write_settings(settings, name)
    stop_arg = stops["clicks"] if job == LANDING else stops
    cmd = job_command(settings, BOUNDED, settings_file, "--stop-offsets", json.dumps(stop_arg), job=job)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.logs_dir / f"{name}.log"
    began = time.monotonic()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the JVM and the Python UDF workers share its process group
        proc.wait()
        raise
    if returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-40:]
        raise RuntimeError(f"bounded {job} run failed ({returncode}):\n" + "\n".join(tail))
    for key, topic in topics.items():
        commit_offsets(settings.kafka_bootstrap, group, topic, stops[key])
    summary["seconds"] = round(time.monotonic() - began, 1)
    return summary
