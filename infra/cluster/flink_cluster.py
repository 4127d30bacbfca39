"""A Flink standalone session cluster from the PyFlink distribution: 1 JobManager + N TaskManagers on loopback.

Each daemon runs `jobmanager.sh|taskmanager.sh start-foreground` as a ManagedProcess (PID file + log under var/),
with a config directory generated under `var/flink-cluster/conf` from the distribution's own config.yaml
(its JVM flags) plus our keys: every bind/RPC/REST address on 127.0.0.1, quick TaskManager-loss detection.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import yaml

from infra.processes import ManagedProcess, http_ok, port_open
from pipelines.settings import Settings
from streaming.java import java_home

LOOPBACK = "127.0.0.1"
JOBMANAGER = "flink-jobmanager"
LOG_FILES = ("log4j-console.properties", "log4j-cli.properties", "log4j.properties", "logback.xml")


class ClusterError(RuntimeError):
    """The cluster could not be started or reached; the message says why."""


def flink_home(settings: Settings) -> Path:
    """The Flink distribution inside the Flink env's pyflink package (bin/, lib/, conf/)."""
    for path in sorted((settings.venvs_dir / "flink").glob("lib/python3*/site-packages/pyflink")):
        if (path / "bin" / "jobmanager.sh").is_file():
            return path
    raise ClusterError("the Flink env has no pyflink distribution: run `make install`")


def cluster_dir(settings: Settings) -> Path:
    return settings.var_dir / "flink-cluster"


def rest_url(settings: Settings) -> str:
    return f"http://{LOOPBACK}:{settings.flink_rest_port}"


def cluster_config(settings: Settings, base: dict | None = None) -> dict[str, object]:
    """The cluster's config.yaml: the distribution's keys (JVM flags) overridden by loopback-only addresses."""
    root = cluster_dir(settings)
    config = dict(base or {})
    config.update({
        "jobmanager.rpc.address": LOOPBACK,
        "jobmanager.rpc.port": settings.flink_rpc_port,
        "jobmanager.bind-host": LOOPBACK,
        "jobmanager.memory.process.size": "1024m",
        "jobmanager.execution.failover-strategy": "region",
        "taskmanager.bind-host": LOOPBACK,
        "taskmanager.host": LOOPBACK,
        "taskmanager.numberOfTaskSlots": settings.flink_taskmanager_slots,
        "taskmanager.memory.process.size": settings.flink_taskmanager_memory,
        "rest.address": LOOPBACK,
        "rest.bind-address": LOOPBACK,
        "rest.port": settings.flink_rest_port,
        "parallelism.default": settings.flink_parallelism,
        "cluster.evenly-spread-out-slots": True,
        # a killed TaskManager is noticed in seconds, not after the default 50 s heartbeat timeout
        "heartbeat.interval": 2000,
        "heartbeat.timeout": 10000,
        "io.tmp.dirs": str(root / "tmp"),
        "env.pid.dir": str(root / "pids"),
        "env.log.dir": str(settings.logs_dir),
        "web.submit.enable": False,
        "metrics.fetcher.update-interval": 1000,  # REST record counts fresh to the second (benchmarks, drills)
        # pemja (thread-mode Python UDFs) loads a JNI library once per JVM: its classes must come from the
        # TaskManager's own classpath (lib_dir), not from each job's class loader, or a restarted or second job
        # fails with UnsatisfiedLinkError
        "classloader.parent-first-patterns.additional": "pemja.",
    })  # fmt: skip
    return config


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """Nested YAML mappings as Flink's flat `a.b.c` keys."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def write_conf_dir(settings: Settings) -> Path:
    """Generate var/flink-cluster/conf (config.yaml + the distribution's log configs); returns it."""
    dist_conf = flink_home(settings) / "conf"
    conf = cluster_dir(settings) / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    for sub in ("tmp", "pids"):
        (cluster_dir(settings) / sub).mkdir(parents=True, exist_ok=True)
    base = flatten(yaml.safe_load((dist_conf / "config.yaml").read_text()) or {})
    (conf / "config.yaml").write_text(yaml.safe_dump(cluster_config(settings, base), sort_keys=True))
    for name in LOG_FILES:
        shutil.copyfile(dist_conf / name, conf / name)
    return conf


def write_lib_dir(settings: Settings) -> Path:
    """var/flink-cluster/lib: the distribution's lib/ plus opt/flink-python (what Flink's PyFlink images do)."""
    home = flink_home(settings)
    lib = cluster_dir(settings) / "lib"
    shutil.rmtree(lib, ignore_errors=True)
    lib.mkdir(parents=True)
    for jar in [*sorted((home / "lib").glob("*.jar")), *sorted((home / "opt").glob("flink-python*.jar"))]:
        (lib / jar.name).symlink_to(jar)
    return lib


def daemon_env(settings: Settings) -> dict[str, str]:
    """What the distribution's scripts need: our config and lib dirs, logs under var/, Java 17."""
    return {
        "FLINK_CONF_DIR": str(cluster_dir(settings) / "conf"),
        "FLINK_LIB_DIR": str(cluster_dir(settings) / "lib"),
        "FLINK_LOG_DIR": str(settings.logs_dir),
        "FLINK_PID_DIR": str(cluster_dir(settings) / "pids"),
        "JAVA_HOME": os.environ.get("JAVA_HOME") or java_home(),
    }


def taskmanager_ids(settings: Settings) -> list[str]:
    return [f"flink-taskmanager-{i}" for i in range(1, settings.flink_taskmanagers + 1)]


def registered_taskmanagers(settings: Settings) -> set[str]:
    """Resource ids of the TaskManagers registered with the JobManager (empty when it is unreachable)."""
    try:
        body = httpx.get(f"{rest_url(settings)}/taskmanagers", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return set()
    return {tm["id"] for tm in body.get("taskmanagers", [])}


def jobmanager_process(settings: Settings) -> ManagedProcess:
    script = flink_home(settings) / "bin" / "jobmanager.sh"
    return ManagedProcess(JOBMANAGER, ["bash", str(script), "start-foreground"], settings.pids_dir,
                          settings.logs_dir, env=daemon_env(settings),
                          ready=lambda: http_ok(f"{rest_url(settings)}/overview"))  # fmt: skip


def taskmanager_process(settings: Settings, name: str) -> ManagedProcess:
    """TaskManager `name` (also its Flink resource id); ready once the JobManager lists it."""
    script = flink_home(settings) / "bin" / "taskmanager.sh"
    cmd = ["bash", str(script), "start-foreground", "-D", f"taskmanager.resource-id={name}"]
    return ManagedProcess(name, cmd, settings.pids_dir, settings.logs_dir, env=daemon_env(settings),
                          ready=lambda: name in registered_taskmanagers(settings))  # fmt: skip


def processes(settings: Settings) -> list[ManagedProcess]:
    """JobManager first, then the TaskManagers (start order; stop in reverse)."""
    return [jobmanager_process(settings)] + [
        taskmanager_process(settings, n) for n in taskmanager_ids(settings)
    ]


def start_cluster(settings: Settings, timeout: float = 120.0) -> dict[str, int]:
    """Start (or reuse) the JobManager, then every TaskManager at once, and wait until all are registered.

    On any failure, stop what this call started.
    """
    jm = jobmanager_process(settings)
    if jm.pid() is None and port_open(LOOPBACK, settings.flink_rest_port):
        raise ClusterError(
            f"port {settings.flink_rest_port} (Flink REST) is taken by a process we did not start"
        )
    if jm.pid() is None:
        write_conf_dir(settings)
        write_lib_dir(settings)
    started = [p for p in processes(settings) if p.pid() is None]
    try:
        pids = {jm.name: jm.start(timeout=timeout)}
        tms = [taskmanager_process(settings, name) for name in taskmanager_ids(settings)]
        for tm in tms:
            tm.ready, check = None, tm.ready  # launch all, then wait for all: they register in parallel
            pids[tm.name] = tm.start()
            tm.ready = check
        for tm in tms:
            tm.wait_ready(timeout)
    except Exception:
        for proc in reversed(started):
            proc.stop()
        raise
    return pids


def stop_cluster(settings: Settings) -> dict[str, bool]:
    """Stop the TaskManagers, then the JobManager (by PID file); name -> was running."""
    return {proc.name: proc.stop(grace=20.0) for proc in reversed(processes(settings))}


def cluster_status(settings: Settings) -> dict[str, object]:
    return {
        "rest": rest_url(settings),
        "pids": {proc.name: proc.pid() for proc in processes(settings)},
        "registered_taskmanagers": sorted(registered_taskmanagers(settings)),
    }
