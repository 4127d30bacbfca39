"""Where the landing job checkpoints, and which retained checkpoint a fresh process restores from."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from pipelines.settings import Settings

LONG_RUNNING, BOUNDED = "long-running", "bounded"
# retained checkpoints of the long-running job live under flink_checkpoint_dir/<this>; bump it whenever the
# job graph changes incompatibly (state of another graph cannot be restored; the new graph then starts from
# the consumer group's committed offsets). v2: SQL validation fast path + SQL Deduplicate.
LANDING_CHECKPOINTS = "landing-v2"
ONLINE_CHECKPOINTS = "online-v3"  # the online-metrics job (streaming.online_job); same rules. v2: one source
# for both topics, one temporal join (issue 14); v3: user + movie attribution (a versioned row per shown item)


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete retained checkpoint (`<root>/<job id>/chk-N` holding `_metadata`)."""
    candidates = [meta.parent for meta in root.glob("*/chk-*/_metadata")]
    return max(candidates, key=lambda p: (p / "_metadata").stat().st_mtime, default=None)


def prune_checkpoints(root: Path, keep: Path) -> None:
    """Delete retained checkpoints of earlier job runs, older than the one being restored (`keep`)."""
    keep_mtime = (keep / "_metadata").stat().st_mtime
    for job_dir in root.iterdir():
        if job_dir == keep.parent or not job_dir.is_dir():
            continue
        metas = list(job_dir.glob("chk-*/_metadata"))
        if all(m.stat().st_mtime < keep_mtime for m in metas):
            shutil.rmtree(job_dir, ignore_errors=True)


def prepare(
    settings: Settings, mode: str, fresh: bool, folder: str = LANDING_CHECKPOINTS
) -> tuple[Path, Path | None]:
    """(checkpoint root, checkpoint to restore or None), with the root created and older runs pruned.

    A bounded run checkpoints into its own throw-away folder (see discard); the long-running job restores from
    the latest retained checkpoint unless `fresh`.
    """
    if mode == BOUNDED:
        root = settings.flink_checkpoint_dir / "bounded" / f"run-{os.getpid()}-{int(time.time())}"
        restore_from = None
    else:
        root = settings.flink_checkpoint_dir / folder
        restore_from = None if fresh else latest_checkpoint(root)
    root.mkdir(parents=True, exist_ok=True)
    if restore_from is not None:
        prune_checkpoints(root, restore_from)
    return root, restore_from


def discard(root: Path) -> None:
    """Remove a finished bounded run's checkpoints (its offsets are committed by infra.flink_job instead)."""
    shutil.rmtree(root, ignore_errors=True)
