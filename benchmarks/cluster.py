"""Cluster-profile benchmark: landing throughput at parallelism 1 vs 2, and the TaskManager-kill drill.

Real engines on loopback: a tansu broker, a Flink standalone session cluster (1 JobManager + 2 TaskManagers x 2
slots) and the landing job submitted with `flink run` (infra.cluster). For each parallelism: a fresh 2-partition
topic holding `--count` valid clicks is produced first (a backlog), then the job is submitted fresh; throughput =
count / (time the de-dup operator has read every record - time it read the first), from the JobManager's REST
record counters (sampled every 0.25 s, refreshed every 1 s); landed_s = submit -> all committed in files
(includes checkpointing). Then the drills (infra.cluster.drill): kill -9 the JobManager mid-stream and restart it
(the job is resubmitted from its retained checkpoint), then kill -9 the file writer's TaskManager.
`airflow`: two runs of a probe DAG at once on Airflow's LocalExecutor with its metadata DB on PostgreSQL
(infra.cluster.airflow_drill); `mlflow`: the PostgreSQL-backed MLflow server stopped during a real scheduler-driven
movielens_retrain run and restarted once register has failed (infra.cluster.mlflow_restart_drill);
`freshness`: against a running profile (`movierec stack up --profile cluster`, same MOVIEREC_* env), a like on
replica 1 must leave replica 2's top-10 within 2 s, for `--users` users (infra.cluster.freshness).
Merges its parts into benchmarks/results/cluster.json with os.getloadavg(). Usage:
  .venvs/ml/bin/python benchmarks/cluster.py [--parts flink airflow mlflow] [--count 200000] [--port-base 19520]
      [--no-drill]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid

from infra.broker import start_broker, stop_broker
from infra.cluster import (
    airflow_drill,
    drill,
    flink_cluster,
    flink_submit,
    freshness,
    mlflow_restart_drill,
    postgres,
    profile,
)
from infra.processes import wait_for
from pipelines.events import ClickEvent
from pipelines.kafka_config import ensure_topics, producer
from pipelines.landed import committed_files
from pipelines.settings import PROJECT_ROOT, Settings

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "cluster.json"


def fresh_topic(settings: Settings, parallelism: int) -> Settings:
    """The same cluster and broker with a new topic, consumer group and feedback folder."""
    suffix = uuid.uuid4().hex[:8]
    run = settings.model_copy(update={
        "clicks_topic": f"bench-clicks-{suffix}", "dlq_topic": f"bench-dlq-{suffix}",
        "flink_consumer_group": f"bench-{suffix}", "flink_parallelism": parallelism,
        "feedback_dir": settings.var_dir / "bench-feedback" / suffix,
    })  # fmt: skip
    ensure_topics(run)
    return run


def produce_backlog(settings: Settings, count: int) -> float:
    prod = producer(settings.kafka_bootstrap, **{"linger.ms": 20})
    began = time.monotonic()
    for i in range(count):
        event = ClickEvent(user_id=1 + i % 600, movie_id=1 + (i * 13) % 9000)
        prod.produce(settings.clicks_topic, key=event.kafka_key(), value=event.to_json_bytes())
        if i % 10_000 == 0:
            prod.poll(0)
    assert prod.flush(60) == 0
    return time.monotonic() - began


def dedup_read_records(settings: Settings, job_id: str) -> int:
    vertex = next(
        v for v in drill.job_detail(settings, job_id)["vertices"] if v["name"].startswith("Deduplicate")
    )
    return int(vertex["metrics"]["read-records"])


def landed_lines(settings: Settings) -> int:
    return sum(
        sum(1 for _ in open(settings.feedback_dir / f"dt={dt}" / name, "rb"))
        for dt, names in committed_files(settings.feedback_dir).items()
        for name in names
    )


def throughput_run(settings: Settings, parallelism: int, count: int) -> dict:
    run = fresh_topic(settings, parallelism)
    produce_s = produce_backlog(run, count)
    submitted = time.monotonic()
    job_id = flink_submit.submit(run, fresh=True)
    running_s = time.monotonic() - submitted
    first = done = None
    deadline = time.monotonic() + 600
    while done is None and time.monotonic() < deadline:
        n = dedup_read_records(run, job_id)
        now = time.monotonic()
        if first is None and n > 0:
            first = (now, n)
        if n >= count:
            done = now
        time.sleep(0.25)
    landed = wait_for(lambda: landed_lines(run) >= count, timeout=300, interval=1.0)
    landed_s = time.monotonic() - submitted
    flink_submit.cancel_landing(run)
    rate = count / (done - first[0]) if first and done and done > first[0] else None
    return {
        "parallelism": parallelism, "count": count, "produce_s": round(produce_s, 1),
        "submit_to_running_s": round(running_s, 1),
        "throughput_ev_s": round(rate) if rate else None,
        "submit_to_all_landed_s": round(landed_s, 1) if landed else None,
        "landed": landed_lines(run), "load_avg_1m_after": round(os.getloadavg()[0], 2),
    }  # fmt: skip


def airflow_part(base: int, seconds: float) -> dict:
    """Two probe DAG runs at once on a fresh PostgreSQL metadata DB (dropped afterwards)."""
    settings = Settings(var_dir=PROJECT_ROOT / "var" / "bench-cluster-airflow", airflow_port=base + 10)
    database = f"movierec_airflow_bench_{uuid.uuid4().hex[:8]}"
    try:
        return {
            **airflow_drill.run(settings, database, seconds=seconds).as_dict(),
            "load_avg_after": os.getloadavg(),
        }
    finally:
        postgres.drop_database(settings, database)


def mlflow_part(base: int) -> dict:
    """The MLflow restart drill on the small fixture data set (1 epoch): the point is the retry, not the model."""
    overrides = {
        **mlflow_restart_drill.RETRY_ENV, "MOVIEREC_VAR_DIR": str(PROJECT_ROOT / "var" / "bench-cluster-mlflow"),
        "MOVIEREC_DATA_ROOT": str(PROJECT_ROOT / "tests" / "fixtures"), "MOVIEREC_DATASET": "ml-latest-small",
        "MOVIEREC_EPOCHS": "1", "MOVIEREC_BATCH_SIZE": "512", "MOVIEREC_EMBEDDING_DIM": "8", "MOVIEREC_MLP_LAYERS": "[16, 8]",
        "MOVIEREC_AIRFLOW_PORT": str(base + 10), "MOVIEREC_MLFLOW_PORT": str(base + 11),
        "MOVIEREC_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{base + 11}", "MOVIEREC_S3_PORT": str(base + 12),
    }  # fmt: skip
    os.environ.update(overrides)
    settings = Settings()
    suffix = uuid.uuid4().hex[:8]
    dbs = (f"movierec_mlflow_bench_{suffix}", f"movierec_airflow_bench_{suffix}")
    try:
        return {**mlflow_restart_drill.run(settings, *dbs).as_dict(), "load_avg_after": os.getloadavg()}
    finally:
        for database in dbs:
            postgres.drop_database(settings, database)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--parts", nargs="+", choices=["flink", "airflow", "mlflow", "freshness"], default=["flink"]
    )
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--port-base", type=int, default=19520)
    parser.add_argument("--parallelisms", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-drill", action="store_true")
    parser.add_argument("--probe-seconds", type=float, default=20.0)
    parser.add_argument("--users", type=int, nargs="+", default=[11, 12, 13, 14, 15])
    args = parser.parse_args()
    base = args.port_base
    report: dict = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if "airflow" in args.parts:
        report["airflow_executor"] = {
            "load_avg_before": os.getloadavg(),
            **airflow_part(base, args.probe_seconds),
        }
        print(json.dumps(report["airflow_executor"]), flush=True)
    if "mlflow" in args.parts:
        report["mlflow_restart"] = {"load_avg_before": os.getloadavg(), **mlflow_part(base)}
        print(json.dumps(report["mlflow_restart"]), flush=True)
    if "freshness" in args.parts:
        ports = profile.replica_ports(profile.cluster_settings())
        checks = [freshness.check(ports, user) for user in args.users]
        report["replica_freshness"] = {
            "load_avg": os.getloadavg(),
            "ok": all(c["ok"] for c in checks),
            "checks": checks,
        }
        print(json.dumps(report["replica_freshness"]), flush=True)
    if "flink" in args.parts:
        report.update(flink_part(args))
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


def flink_part(args: argparse.Namespace) -> dict:
    """Throughput at each parallelism, then the JobManager and TaskManager drills."""
    base = args.port_base
    settings = Settings(
        var_dir=PROJECT_ROOT / "var" / "bench-cluster", kafka_bootstrap=f"127.0.0.1:{base}",
        flink_rest_port=base + 1, flink_rpc_port=base + 2, clicks_partitions=2,
    )  # fmt: skip
    report: dict = {"load_avg_before": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    try:
        start_broker(settings)
        began = time.monotonic()
        flink_cluster.start_cluster(settings)
        report["cluster_start_s"] = round(time.monotonic() - began, 1)
        report["throughput"] = []
        for p in args.parallelisms:
            report["throughput"].append(throughput_run(settings, p, args.count))
            print(json.dumps(report["throughput"][-1]), flush=True)
        if not args.no_drill:
            run = fresh_topic(settings, 2)
            job_id = flink_submit.submit(run, fresh=True)
            report["jobmanager_restart"] = drill.restart_jobmanager(run, job_id).as_dict()
            print(json.dumps(report["jobmanager_restart"]), flush=True)
            job_id = report["jobmanager_restart"]["extra"]["job_id"]
            report["taskmanager_kill"] = drill.kill_taskmanager(run, job_id).as_dict()
            print(json.dumps(report["taskmanager_kill"]), flush=True)
            flink_submit.cancel_landing(run)
    finally:
        flink_cluster.stop_cluster(settings)
        stop_broker(settings)
    report["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    ratio = [r["throughput_ev_s"] for r in report["throughput"] if r["throughput_ev_s"]]
    if len(ratio) == 2:
        report["p2_over_p1"] = round(ratio[1] / ratio[0], 2)
    return report


if __name__ == "__main__":
    main()
