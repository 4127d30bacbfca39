"""Submitting a job's statement set and blocking until it ends: the same for the landing and the online job."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from pipelines.settings import Settings
from streaming import checkpoints
from streaming.checkpoints import BOUNDED
from streaming.java import java_home


def prepare_jvm(settings: Settings, heap: str | None = None) -> None:
    """JAVA_HOME and the heap of the local mini-cluster (local mode ignores taskmanager memory options); `heap`
    defaults to settings.flink_jvm_heap."""
    os.environ.setdefault("JAVA_HOME", java_home())
    os.environ["JVM_ARGS"] = f"-Xmx{heap or settings.flink_jvm_heap}"


def submit_and_wait(statements, name: str, mode: str, checkpoint_root: Path, restore_from: Path | None,
                    status_file: Path | None, on_submitted: Callable[[], object] | None = None) -> None:  # fmt: skip
    """Execute, write the status file (pid, job id, mode, restored_from) for infra.flink_job, call `on_submitted`
    (planning is done by then: no helper thread runs while the planner does), wait; a bounded run leaves no
    checkpoint behind."""
    result = statements.execute()
    job_id = str(result.get_job_client().get_job_id())
    print(f"submitted {name} {job_id} mode={mode} restored_from={restore_from}", flush=True)
    if on_submitted is not None:
        on_submitted()
    if status_file is not None:
        status = {
            "pid": os.getpid(),
            "job_id": job_id,
            "mode": mode,
            "restored_from": str(restore_from or ""),
        }
        status_file.write_text(json.dumps(status))
    result.wait()
    if mode == BOUNDED:
        checkpoints.discard(checkpoint_root)
    print(f"{name} {job_id} finished", flush=True)
