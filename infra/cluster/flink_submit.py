"""Submit the Flink jobs to the session cluster with the `flink run` CLI, find them, cancel them.

Two jobs, both the embedded profile's modules unchanged: the landing job (`streaming.job`, at flink_parallelism)
and the online job (`streaming.online_job`, at flink_online_parallelism), each with the launcher's exact settings
(a JSON file). `flink run -d -pym <module>` runs it as the client program, which builds the graph and submits it; the
TaskManagers run its Python UDFs with the same Flink-env interpreter (`-pyexec`). The client keeps polling the
job after submitting it (streaming.submit waits for the end), so it is stopped once the job is RUNNING: the job
lives in the cluster, not in the client. Restores from the latest retained checkpoint on the shared var/ path
(streaming.checkpoints) unless `fresh`.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import httpx

from infra.cluster.flink_cluster import ClusterError, cluster_dir, daemon_env, flink_home, rest_url
from infra.flink_job import JOB_NAMES, LANDING, MODULES, ONLINE, write_settings
from infra.processes import ManagedProcess
from pipelines.settings import PROJECT_ROOT, Settings
from streaming.checkpoints import LONG_RUNNING

# pipeline.name set by streaming.landing_graph / streaming.online_graph
JOB_TITLES = {
    LANDING: "movierec-feedback-landing (long-running)",
    ONLINE: "movierec-online-metrics (long-running)",
}
JOB_TITLE = JOB_TITLES[LANDING]
ACTIVE = {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "FAILING", "CANCELLING", "RECONCILING"}


def parallelism(settings: Settings, job: str = LANDING) -> int:
    return settings.flink_parallelism if job == LANDING else settings.flink_online_parallelism


def status_path(settings: Settings, job: str = LANDING) -> Path:
    return cluster_dir(settings) / f"{JOB_NAMES[job]}.status.json"


def read_status(settings: Settings, job: str = LANDING) -> dict:
    try:
        return json.loads(status_path(settings, job).read_text())
    except (OSError, ValueError):
        return {}


def run_command(
    settings: Settings, settings_file: Path, fresh: bool = False, job: str = LANDING
) -> list[str]:
    """`flink run` of `job` at its parallelism, detached, against our JobManager."""
    python = str(settings.venv_python("flink"))
    extra = ["--fresh"] if fresh else []
    # the driver exits after a detached submission: infra.cluster.profile runs streaming.ticker instead
    if job == ONLINE:
        extra.append("--external-ticker")
    return [
        "bash", str(flink_home(settings) / "bin" / "flink"), "run", "--detached",
        "--jobmanager", f"127.0.0.1:{settings.flink_rest_port}",
        "--parallelism", str(parallelism(settings, job)),
        "-pyclientexec", python, "-pyexec", python,
        "-pym", MODULES[job],
        "--settings", str(settings_file), "--mode", LONG_RUNNING, "--status-file", str(status_path(settings, job)),
        *extra,
    ]  # fmt: skip


def jobs(settings: Settings) -> list[dict]:
    """The cluster's jobs (REST /jobs/overview): jid, name, state, ..."""
    try:
        return httpx.get(f"{rest_url(settings)}/jobs/overview", timeout=3.0).json().get("jobs", [])
    except (httpx.HTTPError, ValueError):
        return []


def job_state(settings: Settings, job_id: str) -> str | None:
    return next((j["state"] for j in jobs(settings) if j["jid"] == job_id), None)


def active_jobs(settings: Settings, job: str = LANDING) -> list[str]:
    return [j["jid"] for j in jobs(settings) if j["name"] == JOB_TITLES[job] and j["state"] in ACTIVE]


def active_landing_jobs(settings: Settings) -> list[str]:
    return active_jobs(settings, LANDING)


def submitter(settings: Settings, fresh: bool = False, job: str = LANDING) -> ManagedProcess:
    """The `flink run` client as a ManagedProcess: ready once the job it submitted runs in the cluster."""
    settings_file = write_settings(settings, f"{JOB_NAMES[job]}-cluster")
    env = {**daemon_env(settings), "PYTHONPATH": str(PROJECT_ROOT)}

    def submitted_and_running() -> bool:
        job_id = read_status(settings, job).get("job_id")
        return bool(job_id) and job_state(settings, job_id) == "RUNNING"

    return ManagedProcess(f"flink-submit-{job}", run_command(settings, settings_file, fresh, job),
                          settings.pids_dir, settings.logs_dir, env=env, cwd=PROJECT_ROOT,
                          ready=submitted_and_running)  # fmt: skip


def submit(settings: Settings, fresh: bool = False, timeout: float = 240.0, job: str = LANDING) -> str:
    """Submit (or find) `job`; returns its job id. A failed submission leaves no job behind."""
    running = active_jobs(settings, job)
    if running:
        return running[0]
    status_path(settings, job).unlink(missing_ok=True)
    client = submitter(settings, fresh, job)
    try:
        client.start(timeout=timeout)
    except Exception as exc:
        job_id = read_status(settings, job).get("job_id")
        if job_id:
            cancel(settings, job_id)
        raise ClusterError(f"flink run of the {job} job failed: {exc}") from exc
    finally:
        client.stop(grace=5.0)  # the job runs in the cluster; the client would only poll it
    return read_status(settings, job)["job_id"]


def cancel(settings: Settings, job_id: str) -> None:
    """Cancel a job (its retained checkpoints stay: RETAIN_ON_CANCELLATION)."""
    with contextlib.suppress(httpx.HTTPError):
        httpx.patch(f"{rest_url(settings)}/jobs/{job_id}", params={"mode": "cancel"}, timeout=5.0)


def cancel_jobs(settings: Settings, job: str = LANDING, timeout: float = 30.0) -> list[str]:
    """Cancel every active `job` and wait until none is left; returns their ids."""
    from infra.processes import wait_for

    ids = active_jobs(settings, job)
    for job_id in ids:
        cancel(settings, job_id)
    wait_for(lambda: not active_jobs(settings, job), timeout=timeout)
    return ids


def cancel_landing(settings: Settings, timeout: float = 30.0) -> list[str]:
    return cancel_jobs(settings, LANDING, timeout)
