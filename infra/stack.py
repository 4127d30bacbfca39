"""The whole local loop on embedded defaults: `movierec stack up|down|status|logs`.

Order: broker -> topics -> Flink jobs (landing + online, side by side) -> MLflow server -> Airflow -> (first
champion via the DAG) -> BentoML.
Every process is started through ManagedProcess (PID file + log under var/), so `down` stops exactly those.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

from infra import mlflow_server
from infra.processes import ManagedProcess, http_ok, port_open, wait_for
from pipelines.settings import Settings, get_settings


class StackError(RuntimeError):
    """A precondition failed; the message says what to do."""


def step(message: str) -> Callable[[], None]:
    started = time.perf_counter()
    print(f"==> {message} ...", flush=True)
    return lambda: print(f"    ok ({time.perf_counter() - started:.0f}s)", flush=True)


@dataclass
class Component:
    name: str
    port: int
    process: Callable[[Settings], ManagedProcess]


def components(settings: Settings) -> list[Component]:
    from infra.airflow import airflow_process
    from infra.broker import broker_process, host_port
    from infra.flink_job import ONLINE, job_process
    from infra.serving_process import serving_process

    return [
        Component("broker", host_port(settings.kafka_bootstrap)[1], broker_process),
        Component("flink-job", 0, job_process),
        Component("flink-online", 0, lambda cfg: job_process(cfg, job=ONLINE)),
        Component("mlflow", settings.mlflow_port, mlflow_server.mlflow_process),
        Component("airflow", settings.airflow_port, airflow_process),
        Component("serving", settings.serving_port, serving_process),
    ]


def preflight(settings: Settings) -> None:
    """Fail fast, before starting anything: Java, data, ports taken by someone else."""
    if shutil.which("java") is None:
        raise StackError(
            "Java not found: the Flink job needs a JDK 17 on PATH (Debian: apt-get install openjdk-17-jre-headless)"
        )
    if not settings.dataset_dir.is_dir():
        raise StackError(
            f"data set not found at {settings.dataset_dir}: set MOVIEREC_DATA_ROOT or run `make data`"
        )
    for comp in components(settings):
        if comp.port and comp.process(settings).pid() is None and port_open("127.0.0.1", comp.port):
            raise StackError(f"port {comp.port} ({comp.name}) is already taken by another program: "
                             f"stop it or change the port setting (see README, Configuration)")  # fmt: skip


def ensure_champion(settings: Settings) -> None:
    """Run the retraining DAG once (over the Airflow REST API) when the registry has no champion yet."""
    import mlflow

    from pipelines.registry import CHAMPION, get_alias_version

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    if get_alias_version(settings, CHAMPION) is not None:
        print("    champion already registered", flush=True)
        return
    from infra.airflow import password_file
    from infra.trigger_dag import trigger_and_report

    conf = json.loads(os.environ.get("MOVIEREC_FIRST_RUN_CONF", "{}"))
    url = f"http://127.0.0.1:{settings.airflow_port}"
    if trigger_and_report(url, password_file(settings.airflow_home), "movielens_retrain", conf) != "success":
        raise StackError("the first movielens_retrain run failed: see the Airflow UI / `make logs`")


def start_flink_jobs(settings: Settings, fresh: bool) -> None:
    """Both long-running jobs side by side (each start mostly waits for its JVM): ~one start time, not two.

    `fresh`: ignore the retained checkpoints. The stack's broker keeps topics in memory, so a newly started broker
    is empty and the Kafka offsets in older checkpoints point past its ends: restoring them would skip (lose) the
    first records of every partition.
    """
    from concurrent.futures import ThreadPoolExecutor

    from infra.flink_job import LANDING, ONLINE, start_job

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(start_job, settings, fresh, job=job) for job in (LANDING, ONLINE)]
        for future in futures:
            future.result()  # re-raises a start failure (the caller stops what was started)


def up(settings: Settings) -> None:
    from infra import airflow
    from infra.broker import broker_process, start_broker
    from pipelines.kafka_config import ensure_topics

    preflight(settings)
    done = step(f"broker on {settings.kafka_bootstrap}")
    new_broker = not broker_process(settings).running()  # in-memory topics: a new broker starts empty
    start_broker(settings)
    done()
    done = step("topics")
    ensure_topics(settings)
    done()
    done = step("Flink jobs: landing (clicks -> feedback) and online (A/B metrics, trending), ~20s")
    start_flink_jobs(settings, fresh=new_broker)
    done()
    done = step(f"MLflow server on {mlflow_server.server_url(settings)}")
    mlflow_server.start(settings)
    done()
    done = step(
        f"Airflow (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1:{settings.airflow_port} (~40s)"
    )
    airflow.up(settings)
    done()
    done = step("champion model (runs movielens_retrain once if the registry has none)")
    ensure_champion(settings)
    done()
    done = step(f"BentoML service on {settings.serving_host}:{settings.serving_port}")
    from infra.serving_process import serving_process

    serving_process(settings).start(timeout=180)
    url = f"http://{settings.serving_host}:{settings.serving_port}/readyz"
    if not wait_for(lambda: http_ok(url), timeout=120):
        raise StackError(f"the service answers but is not ready: see {url} and `make logs`")
    done()
    print_addresses(settings)


def print_addresses(settings: Settings) -> None:
    from infra.airflow import password_file

    web = f"http://{settings.serving_host}:{settings.serving_port}"
    pw_file = password_file(settings.airflow_home)
    print(f"""
The loop is up:
  web page        {web}/ui/
  API docs        {web}/  (OpenAPI spec at {web}/docs.json)
  MLflow UI       {mlflow_server.server_url(settings)}
  Airflow UI      http://127.0.0.1:{settings.airflow_port}  (user admin, password in {pw_file})
Try it:
  curl '{web}/recommendations/1?k=5'
  curl -X POST {web}/click -H 'content-type: application/json' -d '{{"user_id": 1, "movie_id": 318, "event": "like"}}'
Stop everything with `make down`.""")


def down(settings: Settings) -> None:
    for comp in reversed(components(settings)):
        stopped = comp.process(settings).stop()
        print(f"{comp.name:12s} {'stopped' if stopped else 'was not running'}")


def status(settings: Settings) -> None:
    for comp in components(settings):
        pid = comp.process(settings).pid()
        where = f"127.0.0.1:{comp.port}" if comp.port else ""
        print(f"{comp.name:12s} {'running pid ' + str(pid) if pid else 'stopped':20s} {where}")


def logs(settings: Settings) -> None:
    files = [str(comp.process(settings).log_file) for comp in components(settings)]
    existing = [f for f in files if os.path.exists(f)]
    if existing:
        os.execvp("tail", ["tail", "-n", "20", "-F", *existing])


def stack_settings() -> Settings:
    """Settings for the stack: every process talks to the MLflow server, exported to the children's env."""
    settings = get_settings()
    if "MOVIEREC_MLFLOW_TRACKING_URI" not in os.environ:
        os.environ["MOVIEREC_MLFLOW_TRACKING_URI"] = mlflow_server.server_url(settings)
        settings = Settings()
    return settings
