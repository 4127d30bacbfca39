"""TaskManager-failure drill on the real session cluster: kill -9 a TaskManager mid-stream, count what landed.

Clicks are produced at a steady rate with acks=all; only acknowledged clicks count as tried-and-owed. The killed
TaskManager is the one running the file sink's writer (the hardest case: in-progress part files die with it).
The job must recover from its last checkpoint (fixed-delay restart strategy, the survivor's free slots), and
every acknowledged click must be landed exactly once. Used by tests/cluster and benchmarks/cluster.py.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import httpx

from infra.cluster.flink_cluster import (
    JOBMANAGER,
    jobmanager_process,
    registered_taskmanagers,
    rest_url,
    taskmanager_ids,
    taskmanager_process,
)
from infra.processes import wait_for
from pipelines.events import ClickEvent
from pipelines.kafka_config import producer
from pipelines.landed import checked_table, committed_files
from pipelines.settings import Settings


@dataclass
class DrillResult:
    """What a drill saw; `ok` when every acknowledged click landed exactly once in every sink."""

    killed: str
    tried: int
    acked: int
    landed_files: int
    duplicates_files: int
    landed_pg: int | None
    restored_checkpoint: int | None
    kill_to_running_s: float | None
    kill_to_all_landed_s: float | None
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        pg_ok = self.landed_pg is None or self.landed_pg == self.acked
        return self.landed_files == self.acked and self.duplicates_files == 0 and pg_ok

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


class AckedProducer(threading.Thread):
    """Produces valid clicks at `rate`/s until stopped; remembers which event ids the broker acknowledged."""

    def __init__(self, settings: Settings, rate: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.settings, self.rate, self.seed = settings, rate, seed
        self.tried = 0
        self.acked: set[str] = set()
        self.halt = threading.Event()

    def _delivered(self, err, msg) -> None:
        if err is None:
            self.acked.add(json.loads(msg.value())["event_id"])

    def run(self) -> None:
        prod = producer(self.settings.kafka_bootstrap)
        began = time.monotonic()
        while not self.halt.is_set():
            i = self.tried
            event = ClickEvent(
                user_id=1 + (i * 7 + self.seed) % 600, movie_id=1 + (i * 13 + self.seed) % 9000
            )
            prod.produce(self.settings.clicks_topic, key=event.kafka_key(), value=event.to_json_bytes(),
                         on_delivery=self._delivered)  # fmt: skip
            self.tried += 1
            prod.poll(0)
            time.sleep(max(0.0, began + self.tried / self.rate - time.monotonic()))
        prod.flush(30)


def landed_event_ids(settings: Settings) -> Iterator[str]:
    """The event_id of every row of every committed landed file (a duplicate appears twice)."""
    for dt, names in committed_files(settings.feedback_dir).items():
        for name in names:
            with open(settings.feedback_dir / f"dt={dt}" / name) as rows:
                yield from (json.loads(row)["event_id"] for row in rows if row.strip())


def landed_file_counts(settings: Settings) -> Counter:
    """event_id -> times it appears in committed landed files."""
    return Counter(landed_event_ids(settings))


def landed_pg_ids(settings: Settings) -> set[str] | None:
    if not settings.feedback_postgres_url:
        return None
    import psycopg

    with psycopg.connect(settings.feedback_postgres_url) as conn:
        rows = conn.execute(f"SELECT event_id::text FROM {checked_table(settings.feedback_postgres_table)}")  # noqa: S608
        return {r[0] for r in rows.fetchall()}


def job_detail(settings: Settings, job_id: str) -> dict:
    return httpx.get(f"{rest_url(settings)}/jobs/{job_id}", timeout=3.0).json()


def fully_running(settings: Settings, job_id: str) -> bool:
    """The job and every one of its tasks are RUNNING."""
    try:
        detail = job_detail(settings, job_id)
    except (httpx.HTTPError, ValueError):
        return False
    tasks = detail.get("status-counts", {})
    return detail.get("state") == "RUNNING" and tasks.get("RUNNING", 0) == sum(tasks.values()) > 0


def writer_taskmanager(settings: Settings, job_id: str) -> str:
    """Resource id of the TaskManager running the file sink's writer (parallelism 1)."""
    vertex = next(v for v in job_detail(settings, job_id)["vertices"] if "streaming-writer" in v["name"])
    url = f"{rest_url(settings)}/jobs/{job_id}/vertices/{vertex['id']}/taskmanagers"
    return httpx.get(url, timeout=3.0).json()["taskmanagers"][0]["taskmanager-id"]


def restored_checkpoint(settings: Settings, job_id: str) -> int | None:
    body = httpx.get(f"{rest_url(settings)}/jobs/{job_id}/checkpoints", timeout=3.0).json()
    restored = (body.get("latest") or {}).get("restored") or {}
    return restored.get("id")


def completed_checkpoints(settings: Settings, job_id: str) -> int:
    body = httpx.get(f"{rest_url(settings)}/jobs/{job_id}/checkpoints", timeout=3.0).json()
    return int(body.get("counts", {}).get("completed", 0))


def run_drill(settings: Settings, job_id: str, victim: str, fault: Callable[[], str], rate: float, before_s: float,
              after_s: float, land_timeout: float, seed: int | None) -> DrillResult:  # fmt: skip
    """Produce for `before_s`, run `fault` (it breaks something, waits for recovery, returns the running job's id),
    keep producing until `after_s` after the fault, then wait until every acknowledged click landed and count."""
    wait_for(lambda: completed_checkpoints(settings, job_id) >= 1, timeout=120.0)
    gen = AckedProducer(settings, rate, seed if seed is not None else int(time.time()))
    gen.start()
    time.sleep(before_s)
    broken_at = time.monotonic()
    try:
        job_id = fault()
        running_s: float | None = time.monotonic() - broken_at if fully_running(settings, job_id) else None
    finally:
        time.sleep(max(0.0, broken_at + after_s - time.monotonic()))
        gen.halt.set()
        gen.join()
    acked = set(gen.acked)

    def all_landed() -> bool:
        pg = landed_pg_ids(settings)
        return acked <= set(landed_file_counts(settings)) and (pg is None or acked <= pg)

    landed = wait_for(all_landed, timeout=land_timeout, interval=1.0)
    landed_s = time.monotonic() - broken_at
    files = landed_file_counts(settings)
    pg = landed_pg_ids(settings)
    return DrillResult(
        killed=victim,
        tried=gen.tried,
        acked=len(acked),
        landed_files=sum(1 for e in acked if e in files),
        duplicates_files=sum(n - 1 for e, n in files.items() if e in acked and n > 1),
        landed_pg=None if pg is None else len(acked & pg),
        restored_checkpoint=restored_checkpoint(settings, job_id),
        kill_to_running_s=round(running_s, 1) if running_s is not None else None,
        kill_to_all_landed_s=round(landed_s, 1) if landed else None,
        extra={"rate_per_s": rate, "produced_before_kill_s": before_s, "job_id": job_id},
    )


def kill_taskmanager(settings: Settings, job_id: str, rate: float = 100.0, before_s: float = 6.0,
                     after_s: float = 10.0, land_timeout: float = 120.0, seed: int | None = None) -> DrillResult:  # fmt: skip
    """SIGKILL the writer's TaskManager mid-stream; the same job restarts in place from its last checkpoint."""
    victim = writer_taskmanager(settings, job_id)
    pid = taskmanager_process(settings, victim).pid()
    if pid is None:
        raise RuntimeError(f"{victim} has no PID file: it was not started by this profile")

    def fault() -> str:
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not fully_running(settings, job_id), timeout=30.0, interval=0.1)
        wait_for(lambda: fully_running(settings, job_id), timeout=land_timeout, interval=0.25)
        return job_id

    return run_drill(settings, job_id, victim, fault, rate, before_s, after_s, land_timeout, seed)


def restart_jobmanager(settings: Settings, job_id: str, rate: float = 100.0, before_s: float = 6.0,
                       after_s: float = 10.0, land_timeout: float = 180.0, seed: int | None = None) -> DrillResult:  # fmt: skip
    """SIGKILL the JobManager mid-stream, start it again and resubmit: without HA the new JobManager knows no job,
    so `flink_submit.submit` restores the job from its latest retained checkpoint on the shared path."""
    from infra.cluster import flink_submit

    jm = jobmanager_process(settings)
    pid = jm.pid()
    if pid is None:
        raise RuntimeError("the JobManager has no PID file: it was not started by this profile")

    def fault() -> str:
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: jm.pid() is None, timeout=30.0, interval=0.1)
        jm.start(timeout=land_timeout)
        alive = {name for name in taskmanager_ids(settings) if taskmanager_process(settings, name).pid()}
        wait_for(lambda: registered_taskmanagers(settings) >= alive, timeout=land_timeout)
        new_job = flink_submit.submit(settings, timeout=land_timeout)
        wait_for(lambda: fully_running(settings, new_job), timeout=land_timeout, interval=0.25)
        return new_job

    return run_drill(settings, job_id, JOBMANAGER, fault, rate, before_s, after_s, land_timeout, seed)
