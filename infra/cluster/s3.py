"""The profile's object store: a moto S3 server on loopback (MinIO in docker-compose), and the env to reach it.

tansu's `s3://` engine keeps topics, records and group offsets there (a broker restart loses nothing); the MLflow
server keeps artifacts there. moto holds its objects in memory: they live as long as the moto process.
"""

from __future__ import annotations

from pathlib import Path

from infra.processes import ManagedProcess, port_open
from pipelines.settings import Settings

NAME = "s3"
BUCKETS = ("tansu", "mlflow")
# moto accepts any credentials; the compose file reads real ones from .env (make secrets)
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "movierec",
    "AWS_SECRET_ACCESS_KEY": "movierec-local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def endpoint(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.s3_port}"


def client_env(settings: Settings) -> dict[str, str]:
    """AWS SDK env of every process that talks to the store (tansu reads AWS_ENDPOINT, boto3 the MLflow one)."""
    url = endpoint(settings)
    return {**CREDENTIALS, "AWS_ENDPOINT": url, "AWS_ALLOW_HTTP": "true", "MLFLOW_S3_ENDPOINT_URL": url}


def moto_binary(settings: Settings) -> Path:
    return settings.venv_python("ml").parent / "moto_server"


def s3_process(settings: Settings) -> ManagedProcess:
    cmd = [str(moto_binary(settings)), "-H", "127.0.0.1", "-p", str(settings.s3_port)]
    return ManagedProcess(NAME, cmd, settings.pids_dir, settings.logs_dir, cwd=settings.var_dir,
                          ready=lambda: port_open("127.0.0.1", settings.s3_port))  # fmt: skip


def s3_client(settings: Settings):  # noqa: ANN201 - boto3's client type is generated at run time
    import boto3

    env = client_env(settings)
    return boto3.client("s3", endpoint_url=endpoint(settings), aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_DEFAULT_REGION"])  # fmt: skip


def has_objects(settings: Settings, bucket: str) -> bool:
    """True when `bucket` exists and holds at least one object."""
    from botocore.exceptions import ClientError

    try:
        return s3_client(settings).list_objects_v2(Bucket=bucket, MaxKeys=1).get("KeyCount", 0) > 0
    except ClientError:
        return False


def start(settings: Settings) -> int:
    """Start (or reuse) the emulator and create the buckets."""

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    pid = s3_process(settings).start(timeout=60)
    client = s3_client(settings)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for bucket in BUCKETS:
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
    return pid
