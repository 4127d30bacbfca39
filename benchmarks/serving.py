"""Serving benchmark: this BentoML service vs the seed-style Flask baseline, side by side in one run.

    .venvs/ml/bin/python benchmarks/serving.py                # trains a champion on full ml-latest-small if none
    .venvs/ml/bin/python benchmarks/serving.py --requests 400 --concurrency 1,16,64

Everything runs on loopback: a tansu broker, `bentoml serve` and the Flask baseline as subprocesses (PID files
under <var-dir>/pids), a thread-pool load generator with bounded request counts. Prints a markdown table and
writes <var-dir>/serving-benchmark.json. Top-10 for random known users over the whole catalog (~9.7k movies).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from infra.processes import ManagedProcess, http_ok  # noqa: E402
from pipelines.settings import Settings, quiet_environment  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def load(base: str, path_for, n: int, concurrency: int, warmup: int = 20) -> dict:
    """n GET requests with `concurrency` client threads (one keep-alive connection each)."""
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "c"):
            local.c = httpx.Client(base_url=base, timeout=60)
        return local.c

    def one(i: int) -> tuple[float, int]:
        started = time.perf_counter()
        resp = client().get(path_for(i))
        return time.perf_counter() - started, resp.status_code

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(min(warmup, n))))
        started = time.perf_counter()
        results = list(pool.map(one, range(n)))
        wall = time.perf_counter() - started
    lat = [r[0] * 1000 for r in results]
    return {
        "requests": n,
        "concurrency": concurrency,
        "errors": sum(1 for r in results if r[1] != 200),
        "p50_ms": round(percentile(lat, 50), 2),
        "p95_ms": round(percentile(lat, 95), 2),
        "p99_ms": round(percentile(lat, 99), 2),
        "mean_ms": round(statistics.fmean(lat), 2),
        "throughput_rps": round(n / wall, 1),
    }


def clicks(base: str, movies: list[int], users: list[int], n: int, concurrency: int) -> dict:
    """n POST /click at `concurrency`; returns acks and the event ids the service answered with."""
    local = threading.local()
    ids: list[str] = []

    def one(i: int) -> int:
        if not hasattr(local, "c"):
            local.c = httpx.Client(base_url=base, timeout=30)
        resp = local.c.post(
            "/click", json={"user_id": users[i % len(users)], "movie_id": movies[i % len(movies)]}
        )
        if resp.status_code == 202:
            ids.append(resp.json()["event_id"])
        return resp.status_code

    with ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        codes = list(pool.map(one, range(n)))
        wall = time.perf_counter() - started
    return {
        "requests": n,
        "concurrency": concurrency,
        "accepted_202": codes.count(202),
        "other": n - codes.count(202),
        "clicks_per_s": round(n / wall, 1),
        "event_ids": ids,
    }


def topic_event_ids(
    bootstrap: str, topic: str, partitions: int, expect: set[str], timeout: float = 20
) -> set[str]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    found: set[str] = set()
    deadline = time.monotonic() + timeout
    while not expect <= found and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None and msg.error() is None:
            found.add(json.loads(msg.value())["event_id"])
    consumer.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--var-dir", type=Path, default=REPO / "var" / "bench-serving")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data" / "movielens")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--requests", type=int, default=400, help="requests per service and concurrency")
    parser.add_argument("--baseline-requests", type=int, default=120)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--clicks", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1, help="BentoML workers (MOVIEREC_SERVING_WORKERS)")
    args = parser.parse_args()

    quiet_environment()
    cfg = Settings(var_dir=args.var_dir, data_root=args.data_root, dataset="ml-latest-small", epochs=args.epochs,
                   kafka_bootstrap=f"127.0.0.1:{free_port()}", model_poll_interval_s=3600)  # fmt: skip
    import mlflow

    from pipelines.registry import CHAMPION, get_alias_version, load_champion

    mlflow.set_tracking_uri(cfg.mlflow_tracking_uri)
    if get_alias_version(cfg, CHAMPION) is None:
        from pipelines.pipeline import run_all

        print(f"training a champion on full ml-latest-small ({args.epochs} epochs) ...", flush=True)
        run_all(cfg, run_id="bench-full")
    champ = load_champion(cfg)
    users = [int(u) for u in champ.recommender.maps.user_ids]
    movies = list(champ.recommender.movies)
    print(
        f"champion {champ.model_name} v{champ.version}: {len(users)} users, {len(movies)} movies", flush=True
    )
    del champ

    from infra.broker import start_broker, stop_broker

    env = {
        "MOVIEREC_VAR_DIR": str(cfg.var_dir), "MOVIEREC_DATA_ROOT": str(cfg.data_root),
        "MOVIEREC_DATASET": cfg.dataset, "MOVIEREC_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap,
        "MOVIEREC_MODEL_POLL_INTERVAL_S": "3600", "MOVIEREC_SERVING_WORKERS": str(args.workers),
        "PYTHONPATH": str(REPO),
    }  # fmt: skip
    svc_port, base_port = free_port(), free_port()
    bentoml = Path(sys.executable).parent / "bentoml"
    service = ManagedProcess("bench-serving", [str(bentoml), "serve", "serving.service:MovieRecommender", "--host",
                             "127.0.0.1", "--port", str(svc_port)], cfg.pids_dir, cfg.logs_dir, env=env, cwd=REPO,
                             ready=lambda: http_ok(f"http://127.0.0.1:{svc_port}/readyz"))  # fmt: skip
    baseline = ManagedProcess("bench-baseline", [sys.executable, str(REPO / "benchmarks" / "baseline_flask.py"),
                              "--port", str(base_port)], cfg.pids_dir, cfg.logs_dir, env=env, cwd=REPO,
                              ready=lambda: http_ok(f"http://127.0.0.1:{base_port}/healthz"))  # fmt: skip
    rng = random.Random(42)
    sample = [rng.choice(users) for _ in range(10_000)]
    report: dict = {"catalog_movies": len(movies), "cpu_count": os.cpu_count(), "runs": []}
    start_broker(cfg)
    try:
        service.start(timeout=180)
        baseline.start(timeout=180)
        for conc in [int(c) for c in args.concurrency.split(",")]:
            for name, port, n, path in (
                ("bentoml-service", svc_port, args.requests, lambda i: f"/recommendations/{sample[i]}?k=10"),
                ("flask-baseline", base_port, args.baseline_requests, lambda i: f"/predict/{sample[i]}"),
            ):
                result = {"service": name, **load(f"http://127.0.0.1:{port}", path, n, conc)}
                report["runs"].append(result)
                print(json.dumps(result), flush=True)
        click = clicks(f"http://127.0.0.1:{svc_port}", movies, users, args.clicks, 16)
        expect = set(click.pop("event_ids"))
        found = topic_event_ids(cfg.kafka_bootstrap, cfg.clicks_topic, cfg.clicks_partitions, expect)
        click["in_topic"] = len(expect & found)
        click["lost"] = len(expect - found)
        report["clicks"] = click
        print(json.dumps(click), flush=True)
    finally:
        baseline.stop()
        service.stop()
        stop_broker(cfg)
    (cfg.var_dir / "serving-benchmark.json").write_text(json.dumps(report, indent=2))
    print_table(report)


def print_table(report: dict) -> None:
    print("\n| service | concurrency | requests | p50 ms | p95 ms | p99 ms | throughput req/s | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for r in report["runs"]:
        print(f"| {r['service']} | {r['concurrency']} | {r['requests']} | {r['p50_ms']} | {r['p95_ms']} | "
              f"{r['p99_ms']} | {r['throughput_rps']} | {r['errors']} |")  # fmt: skip
    by = {(r["service"], r["concurrency"]): r for r in report["runs"]}
    for conc in sorted({r["concurrency"] for r in report["runs"]}):
        svc, base = by.get(("bentoml-service", conc)), by.get(("flask-baseline", conc))
        if svc and base:
            print(
                f"\nconcurrency {conc}: throughput ratio {svc['throughput_rps'] / base['throughput_rps']:.1f}x"
            )
    c = report.get("clicks")
    if c:
        print(f"\nclicks: {c['accepted_202']}/{c['requests']} accepted at {c['clicks_per_s']}/s (concurrency 16); "
              f"{c['in_topic']} found in the topic, {c['lost']} lost")  # fmt: skip


if __name__ == "__main__":
    main()
