"""The profile's PostgreSQL: checked before anything starts, one database per user of it (MLflow, feedback)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pipelines.settings import Settings

Role = Literal["mlflow", "feedback", "airflow"]


class PostgresMissing(RuntimeError):
    """No PostgreSQL answers at settings.postgres_url."""


def database_name(settings: Settings, role: Role) -> str:
    """One database per user of the server; the prefix (settings) keeps a test's databases apart from yours."""
    return f"{settings.cluster_database_prefix}_{role}"


def database_url(settings: Settings, database: str, driver: str = "") -> str:
    """settings.postgres_url pointed at `database` (driver e.g. "+psycopg" for SQLAlchemy)."""
    parts = urlsplit(settings.postgres_url)
    return urlunsplit((f"postgresql{driver}", parts.netloc, f"/{database}", parts.query, ""))


def check(settings: Settings) -> str:
    """The server version; raises PostgresMissing with what to do when none answers."""
    import psycopg

    try:
        with psycopg.connect(settings.postgres_url, connect_timeout=3) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error as exc:
        raise PostgresMissing(
            f"the cluster profile needs PostgreSQL at {settings.postgres_url} (MOVIEREC_POSTGRES_URL) and none "
            f"answers ({str(exc).strip().splitlines()[0]}); nothing was started. Debian: "
            "apt-get install postgresql && pg_ctlcluster --skip-systemctl-redirect <version> main start"
        ) from exc


def database_exists(settings: Settings, database: str) -> bool:
    import psycopg

    with psycopg.connect(settings.postgres_url) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is not None
        )


def ensure_database(settings: Settings, database: str) -> str:
    """Create `database` if missing; returns its URL."""
    import psycopg

    if not database_exists(settings, database):
        with psycopg.connect(settings.postgres_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
    return database_url(settings, database)


def drop_database(settings: Settings, database: str) -> None:
    """Drop a drill's or a test's own database (never the profile's)."""
    import psycopg

    with psycopg.connect(settings.postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
