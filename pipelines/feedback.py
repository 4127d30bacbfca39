"""Landed click feedback for the DAG: read what the Flink job landed since a watermark, exactly once per lineage.

Format written by the job: see pipelines/landed.py and docs/streaming.md. No Flink import here.

Watermark (one JSON file per model lineage under settings.state_dir/feedback/):
- files: committed part files are immutable and new data always arrives in new files, possibly in an
  old dt partition (late events), so the watermark is the set of consumed file names per dt partition;
- PostgreSQL: rows carry `landed_xid`, the id of the transaction that inserted them. A read takes a
  snapshot, whose xmin bounds every transaction still running; rows with landed_xid below xmin are
  final. Reading [previous xmin, current xmin) never misses a late-committing transaction (its rows have
  an xid >= the xmin of any snapshot taken before it committed) and never sees a row twice (upserts of
  a known event_id keep the original landed_xid).
When PostgreSQL is configured it is the store read (authoritative, one row per event_id); the file
watermark still advances so switching back to files does not replay old events.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from pipelines.landed import checked_table, committed_files
from pipelines.settings import Settings

COLUMNS = ["event_id", "user_id", "movie_id", "event", "ts", "source"]
DTYPES = {"event_id": "string", "user_id": "int64", "movie_id": "int64", "event": "string", "ts": "int64", "source": "string"}


@dataclass
class Watermark:
    """What a lineage has consumed: file names per dt partition, and the PostgreSQL xid horizon."""

    files: dict[str, list[str]] = field(default_factory=dict)
    pg_xid: int | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Watermark":
        return cls(files={dt: sorted(names) for dt, names in data.get("files", {}).items()}, pg_xid=data.get("pg_xid"))


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in DTYPES.items()})


def _read_files(feedback_dir: Path, files: dict[str, list[str]]) -> pd.DataFrame:
    frames = []
    for dt, names in files.items():
        for name in names:
            path = feedback_dir / f"dt={dt}" / name
            if path.stat().st_size:
                frames.append(pd.read_json(path, lines=True, dtype=False))
    if not frames:
        return _empty_frame()
    return pd.concat(frames, ignore_index=True)


def _read_postgres(settings: Settings, since_xid: int | None) -> tuple[pd.DataFrame, int]:
    """Rows with since_xid <= landed_xid < snapshot xmin, and that xmin (the next watermark)."""
    import psycopg

    table = checked_table(settings.feedback_postgres_table)
    with psycopg.connect(settings.feedback_postgres_url) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        horizon = int(conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text").fetchone()[0])
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
            return _empty_frame(), horizon
        rows = conn.execute(
            f"SELECT event_id::text, user_id, movie_id, event, ts, source FROM {table} "  # noqa: S608 (checked name)
            "WHERE landed_xid >= %s::text::xid8 AND landed_xid < %s::text::xid8",
            (str(since_xid or 0), str(horizon)),
        ).fetchall()
    return pd.DataFrame(rows, columns=COLUMNS), horizon


def read_landed_feedback(
    settings: Settings, since: Watermark | None
) -> tuple[pd.DataFrame, Watermark, list[str]]:
    """Events landed after `since`, de-duplicated by event_id: (frame[COLUMNS], new watermark, partitions read)."""
    since = since or Watermark()
    visible = committed_files(settings.feedback_dir)
    new_files = {
        dt: [n for n in names if n not in set(since.files.get(dt, ()))] for dt, names in visible.items()
    }
    new_files = {dt: names for dt, names in new_files.items() if names}
    merged = {dt: sorted(set(since.files.get(dt, ())) | set(new_files.get(dt, ()))) for dt in {*since.files, *new_files}}
    if settings.feedback_postgres_url:
        df, horizon = _read_postgres(settings, since.pg_xid)
        watermark = Watermark(files=merged, pg_xid=horizon)
        partitions = sorted({f"dt={pd.Timestamp(t, unit='ms', tz='UTC'):%Y-%m-%d}" for t in df["ts"]})
    else:
        df = _read_files(settings.feedback_dir, new_files)
        watermark = Watermark(files=merged, pg_xid=since.pg_xid)
        partitions = [f"dt={dt}" for dt in sorted(new_files)]
    df = df.reindex(columns=COLUMNS).astype(DTYPES)
    df = df.drop_duplicates("event_id", keep="first").sort_values(["ts", "event_id"]).reset_index(drop=True)
    return df, watermark, partitions


# --- the DAG's two calls: snapshot (idempotent per run) and commit (after register/promote) ---------------------


def watermark_path(settings: Settings, lineage: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in lineage)
    return settings.state_dir / "feedback" / f"{safe}.json"


def load_watermark(settings: Settings, lineage: str) -> tuple[Watermark | None, list[str]]:
    """The stored watermark of a lineage (None before the first commit) and the run ids committed so far."""
    try:
        data = json.loads(watermark_path(settings, lineage).read_text())
    except FileNotFoundError:
        return None, []
    return Watermark.from_json(data["watermark"]), data.get("committed_runs", [])


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def snapshot_paths(settings: Settings, run_id: str) -> tuple[Path, Path]:
    run_dir = settings.runs_dir / run_id
    return run_dir / "feedback.jsonl", run_dir / "feedback.meta.json"


def snapshot_new_feedback(settings: Settings, run_id: str, lineage: str) -> dict:
    """Write the events this lineage has not consumed to runs_dir/<run_id>/feedback.jsonl (reused if present).

    Returns {"path", "events", "partitions_read", "reused", "lineage"}; the watermark is not moved here.
    """
    data_path, meta_path = snapshot_paths(settings, run_id)
    if meta_path.exists() and data_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta["lineage"] != lineage:
            raise ValueError(f"run {run_id} snapshotted lineage {meta['lineage']!r}, not {lineage!r}")
        return {**meta["summary"], "reused": True}
    since, _ = load_watermark(settings, lineage)
    df, watermark, partitions = read_landed_feedback(settings, since)  # validated by the pipeline's validate stage
    data_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = data_path.with_name(".feedback.jsonl.tmp")
    df.to_json(tmp, orient="records", lines=True)
    os.replace(tmp, data_path)
    summary = {"path": str(data_path), "events": len(df), "partitions_read": partitions, "lineage": lineage}
    _write_json_atomic(meta_path, {"lineage": lineage, "summary": summary, "watermark": watermark.to_json()})
    return {**summary, "reused": False}


def commit_feedback_watermark(settings: Settings, run_id: str, lineage: str) -> dict:
    """Move the lineage's watermark past run_id's snapshot (idempotent; call only after the run succeeded)."""
    _, meta_path = snapshot_paths(settings, run_id)
    meta = json.loads(meta_path.read_text())
    if meta["lineage"] != lineage:
        raise ValueError(f"run {run_id} snapshotted lineage {meta['lineage']!r}, not {lineage!r}")
    current, committed_runs = load_watermark(settings, lineage)
    if run_id in committed_runs:
        return {"run_id": run_id, "lineage": lineage, "committed": False, "reason": "already committed"}
    snap = Watermark.from_json(meta["watermark"])
    current = current or Watermark()
    # union, not overwrite: a run that snapshotted earlier must not roll back a later commit
    files = {dt: sorted(set(current.files.get(dt, ())) | set(snap.files.get(dt, ()))) for dt in {*current.files, *snap.files}}
    xids = [x for x in (current.pg_xid, snap.pg_xid) if x is not None]
    merged = Watermark(files=files, pg_xid=max(xids) if xids else None)
    _write_json_atomic(
        watermark_path(settings, lineage),
        {"watermark": merged.to_json(), "committed_runs": [*committed_runs, run_id][-1000:]},
    )
    return {"run_id": run_id, "lineage": lineage, "committed": True, "events": meta["summary"]["events"]}
