"""Flink configuration of the landing job: checkpointing, recovery, restarts, loopback-only, thread-mode UDFs."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

from pipelines.settings import PROJECT_ROOT, Settings

LOCAL_HOST = "127.0.0.1"


def job_options(
    settings: Settings, checkpoint_root: Path, restore_from: Path | None, name: str
) -> dict[str, str]:
    """Flink configuration of the job (checkpointing, recovery, restarts, Python workers)."""
    options = {
        "pipeline.name": name,
        "pipeline.object-reuse": "true",
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "parallelism.default": str(settings.flink_parallelism),
        "table.local-time-zone": "UTC",
        "table.exec.state.ttl": f"{settings.flink_dedup_ttl_s}s",
        "execution.checkpointing.interval": f"{settings.flink_checkpoint_interval_s}s",
        "execution.checkpointing.dir": checkpoint_root.as_uri(),
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.num-retained": "2",
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": str(settings.flink_restart_attempts),
        "restart-strategy.fixed-delay.delay": "5s",
        # the local mini-cluster's servers (RPC, blob, REST, shuffle) listen on loopback only; a remote
        # cluster ignores these job-level values
        "jobmanager.bind-host": LOCAL_HOST,
        "taskmanager.bind-host": LOCAL_HOST,
        "taskmanager.host": LOCAL_HOST,
        "rest.bind-address": LOCAL_HOST,
        # Python UDFs run embedded in the JVM (pemja): no Beam gRPC servers, which bind all interfaces
        "python.execution-mode": "thread",
        # the embedded interpreter does not read this venv's site-packages or its .pth files by itself
        "python.pythonpath": os.pathsep.join([sysconfig.get_paths()["purelib"], str(PROJECT_ROOT)]),
    }
    if restore_from is not None:
        options["execution.state-recovery.path"] = restore_from.as_uri()
    return options


def table_env(options: dict[str, str]):
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    # PyFlink starts a "loopback" Beam worker pool for local runs, bound to [::] (hard-coded); thread mode
    # never uses it, and this (PyFlink-internal) switch keeps it from starting
    os.environ["_python_worker_execution_mode"] = "process"  # noqa: SIM112 - PyFlink reads this exact name
    config = Configuration()
    for key, value in options.items():
        config.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    t_env = StreamTableEnvironment.create(env)
    for key, value in options.items():
        t_env.get_config().set(key, value)
    return t_env
