"""The cluster profile of the local stack: `movierec stack up|down|status --profile cluster` (`make up PROFILE=cluster`).

Same code and Settings as the embedded profile, other engines: S3 emulator (moto) -> tansu on `s3://` -> topics ->
Flink session cluster (1 JobManager + 2 TaskManagers) -> landing job + online job via `flink run` (files + PostgreSQL) ->
MLflow (PostgreSQL + S3 artifacts) -> Airflow (LocalExecutor, PostgreSQL) -> first champion -> BentoML x serving_replicas.
Everything lives under var/cluster (own PID files and logs) and listens on the embedded ports + cluster_port_offset,
so both profiles can run side by side; `down` stops exactly what `up` started.
"""

from __future__ import annotations

import os
import shutil

from infra import stack
from infra.broker import broker_process, host_port
from infra.cluster import airflow_pg, flink_cluster, flink_submit, mlflow_pg, postgres, s3
from infra.flink_job import LANDING, ONLINE
from infra.processes import ManagedProcess, http_ok, port_open, wait_for
from infra.serving_process import serve_command
from pipelines.settings import PROJECT_ROOT, Settings, get_settings

MARKER = "MOVIEREC_CLUSTER_PROFILE"
CLUSTER_TICK_S = 5.0
# engine of this profile -> the docker-compose.yml service that runs it in a container deployment
COMPOSE_SERVICES = {
    "s3": "minio", "broker": "kafka", "postgres": "postgres", "flink-jobmanager": "flink-jobmanager",
    "flink-taskmanager": "flink-taskmanager", "landing job": "flink-job", "online job": "flink-online-job",
    "watermark-ticker": "watermark-ticker", "mlflow": "mlflow",
    "airflow": "airflow-scheduler", "serving": "serving-1",
}  # fmt: skip


def cluster_overrides(base: Settings) -> dict[str, str]:
    """The MOVIEREC_* values that turn the embedded settings into the cluster profile's."""
    offset = base.cluster_port_offset
    _, broker_port = host_port(base.kafka_bootstrap)
    mlflow_port = base.mlflow_port + offset
    return {
        "MOVIEREC_VAR_DIR": str(base.var_dir / "cluster"),
        "MOVIEREC_DATA_ROOT": str(base.data_root),
        "MOVIEREC_KAFKA_BOOTSTRAP": f"127.0.0.1:{broker_port + offset}",
        "MOVIEREC_MLFLOW_PORT": str(mlflow_port),
        "MOVIEREC_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
        "MOVIEREC_AIRFLOW_PORT": str(base.airflow_port + offset),
        "MOVIEREC_SERVING_PORT": str(base.serving_port + offset),
        "MOVIEREC_FEEDBACK_POSTGRES_URL": postgres.database_url(
            base, postgres.database_name(base, "feedback")
        ),
        # the online job at the landing job's parallelism: safe with watermark ticks (docs/streaming.md). tansu's
        # s3:// engine stores every produced batch as one object that every consumer lists and gets: ticks every
        # CLUSTER_TICK_S, not every second (docs/scale-out.md)
        "MOVIEREC_FLINK_ONLINE_PARALLELISM": str(
            base.flink_parallelism if base.watermark_tick_s > 0 else base.flink_online_parallelism
        ),
        "MOVIEREC_WATERMARK_TICK_S": str(
            max(base.watermark_tick_s, CLUSTER_TICK_S) if base.watermark_tick_s else 0
        ),
    }


def cluster_settings() -> Settings:
    """Settings of the profile, exported to this process's env so every child (tasks, replicas) reads the same."""
    if os.environ.get(MARKER) != "1":
        os.environ.update({**cluster_overrides(get_settings()), MARKER: "1"})
    return Settings()


def s3_broker(settings: Settings) -> ManagedProcess:
    return broker_process(settings, storage_engine="s3://tansu/", env=s3.client_env(settings))


def replica_ports(settings: Settings) -> list[int]:
    return [settings.serving_port + i for i in range(settings.serving_replicas)]


def replica(settings: Settings, port: int) -> ManagedProcess:
    cmd = serve_command(settings.model_copy(update={"serving_port": port}))
    return ManagedProcess(f"serving-{port}", cmd, settings.pids_dir, settings.logs_dir, cwd=PROJECT_ROOT,
                          ready=lambda: http_ok(f"http://127.0.0.1:{port}/healthz"))  # fmt: skip


def ticker(settings: Settings) -> ManagedProcess:
    """The online job's watermark ticker (streaming.ticker): its driver does not stay after `flink run`."""
    cmd = [str(settings.venv_python("ml")), "-m", "streaming.ticker"]
    return ManagedProcess("watermark-ticker", cmd, settings.pids_dir, settings.logs_dir, cwd=PROJECT_ROOT)


def processes(settings: Settings) -> list[ManagedProcess]:
    """Every process of the profile in start order (the Flink jobs are not: they live in the cluster)."""
    return [
        s3.s3_process(settings), s3_broker(settings), *flink_cluster.processes(settings),
        *([ticker(settings)] if settings.watermark_tick_s > 0 else []),
        mlflow_pg.mlflow_process(settings), airflow_pg.airflow_process(settings),
        *[replica(settings, p) for p in replica_ports(settings)],
    ]  # fmt: skip


def ports(settings: Settings) -> dict[str, int]:
    return {
        "s3": settings.s3_port, "broker": host_port(settings.kafka_bootstrap)[1],
        "flink-rest": settings.flink_rest_port, "flink-rpc": settings.flink_rpc_port,
        "mlflow": settings.mlflow_port, "airflow": settings.airflow_port,
        **{f"serving-{p}": p for p in replica_ports(settings)},
    }  # fmt: skip


def preflight(settings: Settings) -> None:
    """What is missing, before anything starts: Java, the Flink distribution, PostgreSQL, data, free ports."""
    if shutil.which("java") is None:
        raise stack.StackError(
            "Java not found: the Flink cluster needs a JDK 17 on PATH; nothing was started"
        )
    try:
        flink_cluster.flink_home(settings)
    except flink_cluster.ClusterError as exc:
        raise stack.StackError(f"{exc}; nothing was started") from exc
    try:
        postgres.check(settings)
    except postgres.PostgresMissing as exc:
        raise stack.StackError(str(exc)) from exc
    if not settings.dataset_dir.is_dir():
        raise stack.StackError(
            f"data set not found at {settings.dataset_dir}: set MOVIEREC_DATA_ROOT or run `make data`"
        )
    running = any(p.pid() for p in processes(settings))
    taken = [f"{name} {port}" for name, port in ports(settings).items() if port_open("127.0.0.1", port)]
    if taken and not running:
        raise stack.StackError(f"ports taken by programs this profile did not start: {', '.join(taken)} "
                               "(change MOVIEREC_CLUSTER_PORT_OFFSET / the port settings); nothing was started")  # fmt: skip


def up(settings: Settings) -> None:
    from pipelines.kafka_config import ensure_topics

    preflight(settings)
    postgres.ensure_database(settings, postgres.database_name(settings, "feedback"))
    for message, action in (
        (f"S3 emulator (moto) on {s3.endpoint(settings)}", lambda: s3.start(settings)),
        (f"broker (tansu, s3://tansu/) on {settings.kafka_bootstrap}", lambda: s3_broker(settings).start(timeout=60)),
        ("topics", lambda: ensure_topics(settings)),
        (f"Flink session cluster: 1 JobManager + {settings.flink_taskmanagers} TaskManagers, "
         f"REST {flink_cluster.rest_url(settings)}", lambda: flink_cluster.start_cluster(settings)),
        (f"landing job via flink run, parallelism {settings.flink_parallelism}", lambda: flink_submit.submit(settings)),
        (f"online job (attribution, CTR windows, trending) via flink run, parallelism "
         f"{settings.flink_online_parallelism}", lambda: flink_submit.submit(settings, job=ONLINE)),
        (f"MLflow (PostgreSQL + S3 artifacts) on 127.0.0.1:{settings.mlflow_port}", lambda: mlflow_pg.start(settings)),
        (f"Airflow (LocalExecutor x{settings.cluster_airflow_parallelism}, PostgreSQL {postgres.database_name(settings, 'airflow')}) "
         f"on 127.0.0.1:{settings.airflow_port}", lambda: airflow_pg.start(settings)),
        ("champion model (runs movielens_retrain once if the registry has none)",
         lambda: stack.ensure_champion(settings)),
    ):  # fmt: skip
        done = stack.step(message)
        action()
        done()
    for port in replica_ports(settings):
        done = stack.step(f"BentoML replica on 127.0.0.1:{port}")
        replica(settings, port).start(timeout=180)
        if not wait_for(lambda port=port: http_ok(f"http://127.0.0.1:{port}/readyz"), timeout=120):
            raise stack.StackError(f"replica {port} answers but is not ready: see /readyz and `make logs`")
        done()
    if settings.watermark_tick_s > 0:  # last: a replica's first catch-up on the clicks topic reads no ticks
        done = stack.step(f"watermark ticker for the online job, every {settings.watermark_tick_s}s")
        ticker(settings).start(timeout=30)
        done()
    print(f"The cluster profile is up: Flink UI {flink_cluster.rest_url(settings)}, "
          f"MLflow http://127.0.0.1:{settings.mlflow_port}, Airflow http://127.0.0.1:{settings.airflow_port}, "
          f"pages {', '.join(f'http://127.0.0.1:{p}/ui/' for p in replica_ports(settings))}. Stop: make down PROFILE=cluster")  # fmt: skip


def down(settings: Settings) -> None:
    if not settings.pids_dir.is_dir():
        print("cluster profile: nothing was started")
        return
    cluster_up = flink_cluster.jobmanager_process(settings).pid() is not None
    for job in (ONLINE, LANDING):
        cancelled = flink_submit.cancel_jobs(settings, job) if cluster_up else []
        print(f"{job + ' job':20s} {'cancelled ' + ', '.join(cancelled) if cancelled else 'was not running'}")
    for proc in reversed(processes(settings)):
        print(f"{proc.name:20s} {'stopped' if proc.stop(grace=20.0) else 'was not running'}")


def status(settings: Settings) -> None:
    if not settings.pids_dir.is_dir():
        print("cluster profile: nothing was started")
        return
    for proc in processes(settings):
        pid = proc.pid()
        print(f"{proc.name:20s} {'running pid ' + str(pid) if pid else 'stopped'}")
    for job in (LANDING, ONLINE):
        jobs = flink_submit.active_jobs(settings, job)
        print(f"{job + ' job':20s} {', '.join(jobs) if jobs else 'not running'}")


def logs(settings: Settings) -> None:
    existing = [str(p.log_file) for p in processes(settings) if p.log_file.exists()]
    if existing:
        os.execvp("tail", ["tail", "-n", "20", "-F", *existing])
