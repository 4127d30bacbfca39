"""A registry on PostgreSQL whose artifacts died with the in-memory S3 emulator is started over, never trusted.

Real moto server on a free port and a real PostgreSQL database of the test's own (dropped at the end).
"""

from __future__ import annotations

import psycopg
import pytest

from infra.cluster import mlflow_pg, postgres, s3
from pipelines.settings import Settings
from tests.helpers import free_port

pytestmark = pytest.mark.integration


def test_registry_is_stale_only_when_it_names_versions_and_the_store_is_empty(tmp_path, own_database):
    settings, database = Settings(var_dir=tmp_path / "var", s3_port=free_port()), own_database
    try:
        s3.start(settings)
        assert not mlflow_pg.registry_is_stale(settings, database)  # no database yet: a first start
        postgres.ensure_database(settings, database)
        assert not mlflow_pg.registry_is_stale(settings, database)  # no MLflow schema yet
        with psycopg.connect(postgres.database_url(settings, database), autocommit=True) as conn:
            conn.execute("CREATE TABLE model_versions (name text, version int)")
            conn.execute("INSERT INTO model_versions VALUES ('m', 1)")
        assert mlflow_pg.registry_is_stale(settings, database)  # versions, but the fresh store is empty
        s3.s3_client(settings).put_object(Bucket="mlflow", Key="artifacts/1/model.keras", Body=b"x")
        assert not mlflow_pg.registry_is_stale(settings, database)
    finally:
        s3.s3_process(settings).stop()
