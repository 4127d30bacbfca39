"""The landed-feedback contract: the Flink job writes this format (streaming.sql), pipelines.feedback reads it.

Files: `<feedback_dir>/dt=YYYY-MM-DD/<part file>`, JSON lines, one object per event with LANDED_FIELDS
(dt is the UTC date of the event's `ts`, present in the path only). Names starting with "." or "_" are
in progress or markers; names starting with "uncompacted-" are pre-compaction temporaries. Every other file
is committed and never changes again.

PostgreSQL (optional): table `settings.feedback_postgres_table`, PRIMARY KEY event_id, upserted by the job.
`landed_xid` (the inserting transaction id, kept on upsert) lets readers page through rows without
missing late-committing transactions (see pipelines.feedback).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

LANDED_FIELDS = (
    "schema_version", "event_id", "user_id", "movie_id", "event", "ts", "source", "kafka_partition", "kafka_offset",
)  # fmt: skip
HIDDEN_PREFIXES = (".", "_", "uncompacted-")
PARTITION_RE = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")
TABLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def committed_files(feedback_dir: Path) -> dict[str, list[str]]:
    """{dt: sorted committed part-file names} currently visible under feedback_dir."""
    result: dict[str, list[str]] = {}
    if not feedback_dir.is_dir():
        return result
    for part_dir in sorted(feedback_dir.iterdir()):
        match = PARTITION_RE.match(part_dir.name)
        if not match or not part_dir.is_dir():
            continue
        names = sorted(
            f.name for f in part_dir.iterdir() if f.is_file() and not f.name.startswith(HIDDEN_PREFIXES)
        )
        if names:
            result[match.group(1)] = names
    return result


def checked_table(name: str) -> str:
    """The table name, if it is a plain lowercase identifier (it is interpolated into SQL and Flink DDL)."""
    if not TABLE_RE.match(name):
        raise ValueError(f"feedback_postgres_table must match {TABLE_RE.pattern}, got {name!r}")
    return name


def jdbc_url(postgres_url: str) -> str:
    """postgresql://user:pw@host:port/db?x=y -> jdbc:postgresql://host:port/db?x=y&user=..&password=.."""
    parts = urlsplit(postgres_url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"expected a postgresql:// URL, got {postgres_url!r}")
    query = dict(parse_qsl(parts.query))
    query.setdefault("stringtype", "unspecified")  # lets Flink's STRING land in the uuid column
    # in the URL, not Flink's username/password options: those must both be set, and trust auth has no password
    query.update({k: v for k, v in (("user", parts.username), ("password", parts.password)) if v})
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 5432
    return f"jdbc:postgresql://{host}:{port}{parts.path or '/postgres'}?{urlencode(query)}"


def table_ddl(table: str) -> list[str]:
    table = checked_table(table)
    return [
        f"""CREATE TABLE IF NOT EXISTS {table} (
            event_id uuid PRIMARY KEY,
            schema_version int NOT NULL,
            user_id bigint NOT NULL,
            movie_id bigint NOT NULL,
            event text NOT NULL,
            ts bigint NOT NULL,
            source text NOT NULL,
            kafka_partition int,
            kafka_offset bigint,
            landed_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            landed_at timestamptz NOT NULL DEFAULT clock_timestamp()
        )""",
        f"CREATE INDEX IF NOT EXISTS {table}_landed_xid_idx ON {table} (landed_xid)",
    ]


def ensure_table(postgres_url: str, table: str) -> None:
    """Create the click_feedback table (and its landed_xid index) if missing."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in table_ddl(table):
            conn.execute(statement)


def write_part_file(feedback_dir: Path, name: str, events: list[dict]) -> Path:
    """Write one committed part file under feedback_dir/dt=<UTC date of the first event>/, atomically.

    What the Flink job's file sink does when a part file rolls; used to land feedback without a running job.
    """
    import json
    from datetime import UTC, datetime

    dt = datetime.fromtimestamp(events[0]["ts"] / 1000, tz=UTC).strftime("%Y-%m-%d")
    path = feedback_dir / f"dt={dt}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{name}.inprogress")
    tmp.write_text("".join(json.dumps(e) + "\n" for e in events))
    tmp.rename(path)
    return path
