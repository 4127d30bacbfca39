"""Serving benchmark: /recommendations vs the same service's /healthz (the framework's ceiling) vs the seed-style
Flask baseline, side by side in one run, for 1 and 2 BentoML workers.

    .venvs/ml/bin/python benchmarks/serving.py                # trains a champion on full ml-latest-small if none
    .venvs/ml/bin/python benchmarks/serving.py --requests 400 --concurrency 1,16 --workers 1,2

Everything runs on loopback: a tansu broker, `bentoml serve` and the Flask baseline as subprocesses (PID files
under <var-dir>/pids), a thread-pool load generator with bounded request counts. Top-10 over the whole catalog
(~9.7k movies) for a mix of known users and, for --fresh-share of them, users with fresh likes (new users among
them), so fold-in runs in the request path. healthz and recommend alternate in --rounds slices (a shared machine's
load drifts). Also the server time alone: the service's ASGI app driven in-process (no client, no sockets), and
the request math alone over a synthetic 60,000-movie item table (ml-25m's catalog size). Writes
benchmarks/results/serving.json and prints a markdown table.
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

from infra.processes import ManagedProcess, free_port, http_ok  # noqa: E402
from pipelines.settings import (  # noqa: E402
    PROJECT_ROOT,  # noqa: E402
    Settings,
    quiet_environment,
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def load(base: str, path_for, n: int, concurrency: int, warmup: int = 20) -> dict:
    """n GET requests with `concurrency` client threads (one keep-alive connection each)."""
    return summarize(timed_requests(base, path_for, n, concurrency, warmup), concurrency)


def timed_requests(
    base: str, path_for, n: int, concurrency: int, warmup: int = 20, offset: int = 0, cpu=None
) -> dict:
    """Latencies (ms), status codes and wall time of n GETs (paths path_for(offset..offset+n-1)); with `cpu` (the
    server's CPU seconds so far), also the server CPU they cost: unlike latency, barely moved by other jobs' load."""
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
        list(pool.map(one, range(offset, offset + min(warmup, n))))
        cpu_before = cpu() if cpu else 0.0
        started = time.perf_counter()
        results = list(pool.map(one, range(offset, offset + n)))
        wall = time.perf_counter() - started
        cpu_s = cpu() - cpu_before if cpu else None
    return {
        "lat_ms": [r[0] * 1000 for r in results],
        "codes": [r[1] for r in results],
        "wall_s": wall,
        "cpu_s": cpu_s,
    }


def summarize(runs: dict | list[dict], concurrency: int) -> dict:
    """One row from one or more timed_requests runs (latencies pooled, throughput = requests / summed wall time)."""
    runs = [runs] if isinstance(runs, dict) else runs
    lat = [x for r in runs for x in r["lat_ms"]]
    n = len(lat)
    cpu = [r["cpu_s"] for r in runs if r.get("cpu_s") is not None]
    return {
        "requests": n,
        "concurrency": concurrency,
        "errors": sum(1 for r in runs for c in r["codes"] if c != 200),
        "p50_ms": round(percentile(lat, 50), 2),
        "p95_ms": round(percentile(lat, 95), 2),
        "p99_ms": round(percentile(lat, 99), 2),
        "mean_ms": round(statistics.fmean(lat), 2),
        "throughput_rps": round(n / sum(r["wall_s"] for r in runs), 1),
        **({"server_cpu_ms_per_request": round(sum(cpu) * 1000 / n, 3)} if len(cpu) == len(runs) else {}),
    }


def interleaved(endpoints: dict, n: int, concurrency: int, rounds: int) -> list[dict]:
    """Each endpoint's n requests split into `rounds` slices, the endpoints alternating slice by slice, so load that
    other jobs put on a shared machine meanwhile hits every endpoint alike (their ratio is what is compared).
    `endpoints`: name -> (base URL, path_for, the server's CPU-seconds callable)."""
    per = max(1, n // rounds)
    runs: dict[str, list[dict]] = {name: [] for name in endpoints}
    for r in range(rounds):
        for name, (base, path_for, cpu) in endpoints.items():
            runs[name].append(
                timed_requests(base, path_for, per, concurrency, warmup=20, offset=r * per, cpu=cpu)
            )
    return [{"endpoint": name, **summarize(runs[name], concurrency)} for name in endpoints]


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


RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "serving.json"


def like_fresh_clicks(
    base: str, users: list[int], movies: list[int], rng: random.Random, per_user: int = 5
) -> None:
    """Give each of `users` a few fresh likes, so their recommendations go through fold-in."""
    with httpx.Client(base_url=base, timeout=30) as client:
        for user in users:
            for movie in rng.sample(movies, per_user):
                resp = client.post("/click", json={"user_id": user, "movie_id": movie, "event": "like"})
                resp.raise_for_status()


def tree_rss_mb(pid: int) -> dict:
    """RSS of the service's process tree: the `bentoml serve` arbiter and each worker (the replicas), and whether
    any process mapped TensorFlow's library."""
    import psutil

    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    rss = {p.pid: round(p.memory_info().rss / 2**20) for p in procs}
    workers = [v for p, v in rss.items() if p != pid]
    tf = any("tensorflow" in m.path for p in procs for m in p.memory_maps())
    return {"processes_rss_mb": rss, "total_rss_mb": sum(rss.values()), "arbiter_rss_mb": rss[pid],
            "worker_rss_mb": round(statistics.fmean(workers)) if workers else None, "tensorflow_loaded": tf}  # fmt: skip


def tree_cpu_s(pid: int):
    """A callable: CPU seconds (user + system) used so far by the service's process tree (children's too)."""
    import psutil

    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]

    def used() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in procs)

    return used


def request_math_60k(dim: int = 64, n_items: int = 60_000, requests: int = 2000, clicks: int = 5) -> dict:
    """The request's arithmetic over a synthetic 60k-movie table: fold-in of fresh likes + scores + top-k."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from pipelines.fast_scoring import FastScorer, top_k
    from pipelines.foldin import FoldIn, FoldInConfig

    threadpool_limits(limits=1)  # as the service does (serving/runtime.py): one BLAS thread per request
    rng = np.random.default_rng(0)
    scorer = FastScorer(
        output="logit", item_dot=rng.normal(0, 0.1, (n_items, dim)).astype(np.float32),
        user_dot=rng.normal(0, 0.1, (1000, dim)).astype(np.float32), item_bias=rng.normal(0, 1, n_items).astype(np.float32),
        user_bias=np.zeros(1000, np.float32), item_first=np.zeros((n_items, 0), np.float32),
        first_user_w=np.zeros((0, 0), np.float32), user_mlp=np.zeros((1000, 0), np.float32),
    )  # fmt: skip
    fold = FoldIn(scorer, FoldInConfig(scale=3.0))
    timings = {"known_user": [], "fold_in": []}
    for i in range(requests):
        started = time.perf_counter()
        top_k(scorer.score_user(i % 1000), 10, rng.integers(0, n_items, 100))
        timings["known_user"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        liked = rng.integers(0, n_items, clicks)
        top_k(scorer.score_vector(fold.user_repr(liked, ["like"] * clicks)), 10, liked)
        timings["fold_in"].append((time.perf_counter() - started) * 1000)
    return {f"{name}_{q}_ms": round(percentile(t, q), 3) for name, t in timings.items() for q in (50, 99)}


def server_side(out: Path, requests: int, rounds: int, fresh_share: float) -> None:
    """Child-process mode (`--server-side-json`): the service's real ASGI app (BentoML's middlewares + the mounted
    FastAPI app, the real ServingRuntime from the MOVIEREC_* env) driven in-process, without client or sockets:
    server time per request of /healthz vs /recommendations, alternating in `rounds` slices."""
    import asyncio

    os.chdir(REPO)
    from _bentoml_impl.loader import load as load_service
    from bentoml._internal.context import server_context
    from bentoml._internal.log import configure_server_logging

    configure_server_logging()  # the access log too: it is part of a request's cost
    service = load_service("serving.service:MovieRecommender", standalone_load=True)
    server_context.service_type, server_context.service_name = "entry_service", service.name
    app = service.to_asgi(is_main=True)
    codes: list[int] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            codes.append(message["status"])

    async def timed(path: str, query: bytes = b"") -> float:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "root_path": "", "server": ("127.0.0.1", 3000), "client": ("127.0.0.1", 50000),
                 "state": {}, "path": path, "raw_path": path.encode(), "query_string": query,
                 "headers": [(b"host", b"127.0.0.1:3000"), (b"accept", b"*/*")]}  # fmt: skip
        started = time.perf_counter()
        await app(scope, receive, send)
        return (time.perf_counter() - started) * 1000

    async def run() -> dict:
        inbox: asyncio.Queue = asyncio.Queue()
        outbox: asyncio.Queue = asyncio.Queue()
        await inbox.put({"type": "lifespan.startup"})
        lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                           inbox.get, outbox.put))  # fmt: skip
        started = await outbox.get()
        if started["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"service did not start: {started}")
        from serving.api import app as http_app

        runtime = http_app.state.runtime
        rec = runtime.holder.current.recommender
        users, movies, rng = [int(u) for u in rec.maps.user_ids], list(rec.movies), random.Random(42)
        fresh = rng.sample(users, max(1, int(len(users) * fresh_share))) + [
            900_000_000 + i for i in range(50)
        ]
        for user in fresh:  # the same mix as the HTTP runs: these users' requests run the fold-in
            for movie in rng.sample(movies, 5):
                runtime.recent.add(user, movie, int(time.time() * 1000), "like")
        sample = [rng.choice(users + fresh) for _ in range(10_000)]
        lat: dict[str, list[float]] = {"healthz": [], "recommend": [], "recommend_no_impressions": []}
        cpu = dict.fromkeys(lat, 0.0)  # process CPU seconds (every thread: the impression publisher's too)
        per = max(1, requests // rounds)
        publisher = runtime.impressions

        async def timed_slice(name: str, paths: list[tuple[str, bytes]]) -> None:
            started = time.process_time()
            lat[name] += [await timed(path, query) for path, query in paths]
            cpu[name] += time.process_time() - started

        for _ in range(50):  # warm-up
            await timed("/healthz"), await timed(f"/recommendations/{sample[0]}", b"k=10")
        for r in range(rounds):
            recommend = [(f"/recommendations/{sample[i]}", b"k=10") for i in range(r * per, (r + 1) * per)]
            await timed_slice("healthz", [("/healthz", b"")] * per)
            await timed_slice("recommend", recommend)
            runtime.impressions = None  # the same requests, nothing published (serving.recommendations skips)
            await timed_slice("recommend_no_impressions", recommend)
            runtime.impressions = publisher
        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan
        return lat, cpu

    lat, cpu = asyncio.run(run())
    rows = {name: {"requests": len(v), "p50_ms": round(percentile(v, 50), 3), "p99_ms": round(percentile(v, 99), 3),
                   "mean_ms": round(statistics.fmean(v), 3), "cpu_ms_per_request": round(cpu[name] * 1000 / len(v), 3)}
            for name, v in lat.items()}  # fmt: skip
    on, off = rows["recommend"], rows["recommend_no_impressions"]
    out.write_text(json.dumps({
        **rows,
        "errors": sum(1 for c in codes if c != 200),
        "impressions_overhead_ratio": {"p50": round(on["p50_ms"] / off["p50_ms"], 3),
                                       "cpu": round(on["cpu_ms_per_request"] / off["cpu_ms_per_request"], 3)},
        "recommend_minus_healthz_p50_ms": round(rows["recommend"]["p50_ms"] - rows["healthz"]["p50_ms"], 3),
        # what one saturated worker could serve of recommend vs healthz (server time only)
        "healthz_over_recommend_mean": round(rows["healthz"]["mean_ms"] / rows["recommend"]["mean_ms"], 3),
    }))  # fmt: skip


def run_server_side(args, cfg: Settings, env: dict) -> dict:
    """`server_side` in a child process (its access log goes to a log file, not to this output)."""
    import subprocess

    out = cfg.var_dir / "server-side.json"
    log = cfg.logs_dir / "bench-serving-inprocess.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--server-side-json", str(out), "--requests", str(args.server_side_requests),
           "--rounds", str(args.server_side_rounds), "--fresh-share", str(args.fresh_share)]  # fmt: skip
    with log.open("w") as sink:
        subprocess.run(
            cmd, env={**os.environ, **env}, cwd=REPO, stdout=sink, stderr=sink, check=True, timeout=600
        )
    result = json.loads(out.read_text())
    print(json.dumps({"server_side_inprocess": result}), flush=True)
    return result


def service_process(name: str, port: int, cfg: Settings, env: dict) -> ManagedProcess:
    """`bentoml serve` of the service on loopback, ready when /readyz answers 200."""
    bentoml = Path(sys.executable).parent / "bentoml"
    return ManagedProcess(name, [str(bentoml), "serve", "serving.service:MovieRecommender", "--host", "127.0.0.1",
                          "--port", str(port)], cfg.pids_dir, cfg.logs_dir, env=env, cwd=REPO,
                          ready=lambda: http_ok(f"http://127.0.0.1:{port}/readyz"))  # fmt: skip


def run_workers(
    args, cfg: Settings, env: dict, users: list[int], movies: list[int], workers: int, port
) -> dict:
    """One service with `workers` workers: healthz, recommend, clicks. With 1 worker, a twin service with
    impressions off answers the same recommend mix in the same interleaved slices (impressions' overhead)."""
    env = {**env, "MOVIEREC_SERVING_WORKERS": str(workers)}
    ports = {"": port()}
    variants = {"": env}
    if workers == 1 and args.impressions_overhead:
        ports["_no_impressions"] = port()
        variants["_no_impressions"] = {**env, "MOVIEREC_IMPRESSIONS_ENABLED": "false"}
    services = {suffix: service_process(f"bench-serving-{workers}{suffix}", ports[suffix], cfg, variants[suffix])
                for suffix in ports}  # fmt: skip
    rng = random.Random(42)
    fresh = rng.sample(users, max(1, int(len(users) * args.fresh_share))) + [
        900_000_000 + i for i in range(50)
    ]
    sample = [rng.choice(users + fresh) for _ in range(10_000)]
    out: dict = {"workers": workers, "runs": [], "fresh_click_users": len(fresh)}
    try:
        for service in services.values():
            service.start(timeout=240)
        bases = {suffix: f"http://127.0.0.1:{p}" for suffix, p in ports.items()}
        base = bases[""]
        like_fresh_clicks(base, fresh, movies, rng)  # to the topic: every service's follower reads them
        time.sleep(1.5)
        out["memory"] = tree_rss_mb(services[""].pid())
        cpu = {suffix: tree_cpu_s(service.pid()) for suffix, service in services.items()}
        endpoints = {"healthz": (base, lambda i: "/healthz", cpu[""])}
        for suffix in services:
            endpoints["recommend" + suffix] = (bases[suffix], lambda i: f"/recommendations/{sample[i % len(sample)]}?k=10",
                                               cpu[suffix])  # fmt: skip
        for conc in [int(c) for c in args.concurrency.split(",")]:
            for result in interleaved(endpoints, args.requests, conc, args.rounds):
                out["runs"].append(result)
                print(json.dumps({"workers": workers, **result}), flush=True)
        out["impressions"] = httpx.get(f"{base}/online/status", timeout=10).json().get("impressions")
        click = clicks(base, movies, users, args.clicks, 16)
        expect = set(click.pop("event_ids"))
        found = topic_event_ids(cfg.kafka_bootstrap, cfg.clicks_topic, cfg.clicks_partitions, expect)
        out["clicks"] = {**click, "in_topic": len(expect & found), "lost": len(expect - found)}
    finally:
        for service in services.values():
            service.stop()
    return out


def baseline_runs(args, cfg: Settings, env: dict, users: list[int], port: int) -> list[dict]:
    baseline = ManagedProcess("bench-baseline", [sys.executable, str(REPO / "benchmarks" / "baseline_flask.py"),
                              "--port", str(port)], cfg.pids_dir, cfg.logs_dir, env=env, cwd=REPO,
                              ready=lambda: http_ok(f"http://127.0.0.1:{port}/healthz"))  # fmt: skip
    rng = random.Random(42)
    sample = [rng.choice(users) for _ in range(10_000)]
    runs = []
    baseline.start(timeout=240)
    try:
        for conc in [int(c) for c in args.concurrency.split(",")]:
            result = {"endpoint": "flask-baseline", **load(f"http://127.0.0.1:{port}", lambda i: f"/predict/{sample[i]}",
                                                             args.baseline_requests, conc)}  # fmt: skip
            runs.append(result)
            print(json.dumps(result), flush=True)
    finally:
        baseline.stop()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--var-dir", type=Path, default=REPO / "var" / "bench-serving")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data" / "movielens")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--requests", type=int, default=400, help="requests per endpoint and concurrency")
    parser.add_argument("--baseline-requests", type=int, default=120, help="0: skip the Flask baseline")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--clicks", type=int, default=1000)
    parser.add_argument("--workers", default="1,2", help="BentoML worker counts to try")
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="healthz and recommend alternate in this many slices per concurrency",
    )
    parser.add_argument(
        "--fresh-share", type=float, default=0.2, help="share of known users given fresh likes"
    )
    parser.add_argument("--impressions-overhead", action=argparse.BooleanOptionalAction, default=True,
                        help="also run a twin service with impressions off (1 worker) in the same slices")  # fmt: skip
    parser.add_argument("--server-side-requests", type=int, default=3000,
                        help="in-process part: requests per endpoint (cheap: no client, no sockets)")  # fmt: skip
    parser.add_argument("--server-side-rounds", type=int, default=30,
                        help="in-process part: slices per endpoint (short slices: load spikes hit every arm)")  # fmt: skip
    parser.add_argument("--port-base", type=int, default=0,
                        help="broker, services and baseline on consecutive ports from here (0: free ports)")  # fmt: skip
    parser.add_argument("--server-side-json", type=Path, help=argparse.SUPPRESS)  # child-process mode
    args = parser.parse_args()
    if args.server_side_json:
        server_side(args.server_side_json, args.requests, args.rounds, args.fresh_share)
        return

    quiet_environment()
    numbered = iter(range(args.port_base, args.port_base + 100))
    port = (lambda: next(numbered)) if args.port_base else free_port
    cfg = Settings(var_dir=args.var_dir, data_root=args.data_root, dataset="ml-latest-small", epochs=args.epochs,
                   kafka_bootstrap=f"127.0.0.1:{port()}", model_poll_interval_s=3600)  # fmt: skip
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
        "MOVIEREC_MODEL_POLL_INTERVAL_S": "3600", "PYTHONPATH": str(REPO),
    }  # fmt: skip
    report: dict = {
        "catalog_movies": len(movies),
        "cpu_count": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
        "command": " ".join(sys.argv[1:]),
        "rounds": args.rounds,
    }
    start_broker(cfg)
    try:
        report["by_workers"] = [
            run_workers(args, cfg, env, users, movies, int(w), port) for w in args.workers.split(",")
        ]
        report["server_side_inprocess"] = run_server_side(args, cfg, env)
        report["baseline"] = baseline_runs(args, cfg, env, users, port()) if args.baseline_requests else []
    finally:
        stop_broker(cfg)
    report["load_avg_at_end"] = os.getloadavg()
    report["request_math_60k_items"] = request_math_60k()
    report.update(headline(report))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print_table(report)


def headline(report: dict) -> dict:
    """The issue's keys, from the 1-worker run (the same service's /healthz is the ceiling)."""
    one = next(r for r in report["by_workers"] if r["workers"] == 1)
    by = {(r["endpoint"], r["concurrency"]): r for r in one["runs"]}
    math = report["request_math_60k_items"]
    out = {
        "healthz_rps_c16": by[("healthz", 16)]["throughput_rps"],
        "recommend_rps_c16": by[("recommend", 16)]["throughput_rps"],
        "healthz_p50_ms_c1": by[("healthz", 1)]["p50_ms"],
        "recommend_p50_ms_c1": by[("recommend", 1)]["p50_ms"],
        "recommend_p99_ms_c1": by[("recommend", 1)]["p99_ms"],
        # the targets: >= 0.5 and <= 1 ms
        "recommend_over_healthz_rps_c16": round(
            by[("recommend", 16)]["throughput_rps"] / by[("healthz", 16)]["throughput_rps"], 3
        ),
        "recommend_minus_healthz_p50_ms_c1": round(
            by[("recommend", 1)]["p50_ms"] - by[("healthz", 1)]["p50_ms"], 2
        ),
        # server CPU per request (the whole `bentoml serve` tree): what a saturated box can serve of each
        "server_cpu_ms_per_request_c1": {
            name: by[(name, 1)].get("server_cpu_ms_per_request") for name in ("healthz", "recommend")
        },  # fmt: skip
        # the request's math alone (fold-in + scores + top-k) over 60k items; HTTP overhead: see healthz
        "recommend_p99_ms_c1_60k_items": math["fold_in_99_ms"],
        # each `bentoml serve` worker (a replica) and the arbiter process beside them
        "rss_mb_per_worker": {r["workers"]: r["memory"]["worker_rss_mb"] for r in report["by_workers"]},
        "rss_mb_arbiter": one["memory"]["arbiter_rss_mb"],
        "rss_mb_total": {r["workers"]: r["memory"]["total_rss_mb"] for r in report["by_workers"]},
        "tensorflow_loaded_by_service": any(r["memory"]["tensorflow_loaded"] for r in report["by_workers"]),
    }
    if ("recommend_no_impressions", 1) in by:
        off1, off16 = by[("recommend_no_impressions", 1)], by[("recommend_no_impressions", 16)]
        out["recommend_no_impressions_p50_ms_c1"] = off1["p50_ms"]
        out["recommend_no_impressions_rps_c16"] = off16["throughput_rps"]
        # how much slower with impressions published than without (1.10 = 10% slower; the target is <= 1.10)
        out["impressions_overhead_ratio"] = {
            "p50_c1": round(by[("recommend", 1)]["p50_ms"] / off1["p50_ms"], 3),
            "throughput_c16": round(off16["throughput_rps"] / by[("recommend", 16)]["throughput_rps"], 3),
        }
        out["impressions_published"] = one.get("impressions")
    side = report.get("server_side_inprocess") or {}
    if "impressions_overhead_ratio" in side:  # in one process, alternating slices: the steadier figure
        out.setdefault("impressions_overhead_ratio", {}).update(
            {f"server_side_{k}": v for k, v in side["impressions_overhead_ratio"].items()}
        )
    return out


def print_table(report: dict) -> None:
    print("\n| workers | endpoint | concurrency | requests | p50 ms | p99 ms | req/s | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for block in report["by_workers"]:
        for r in block["runs"]:
            print(f"| {block['workers']} | {r['endpoint']} | {r['concurrency']} | {r['requests']} | {r['p50_ms']} | "
                  f"{r['p99_ms']} | {r['throughput_rps']} | {r['errors']} |")  # fmt: skip
    for r in report["baseline"]:
        print(f"| - | flask-baseline | {r['concurrency']} | {r['requests']} | {r['p50_ms']} | {r['p99_ms']} | "
              f"{r['throughput_rps']} | {r['errors']} |")  # fmt: skip
    print(
        f"\nload average {report['load_avg_at_start']} at the start, {report['load_avg_at_end']} at the end"
    )
    print(f"recommend/healthz throughput at 16: {report['recommend_rps_c16'] / report['healthz_rps_c16']:.0%}; "
          f"p50 at 1: {report['recommend_p50_ms_c1']} ms vs healthz {report['healthz_p50_ms_c1']} ms; "
          f"60k-item request math p99 {report['recommend_p99_ms_c1_60k_items']} ms; RSS per worker count "
          f"{report['rss_mb_per_worker']} MB; TensorFlow loaded: {report['tensorflow_loaded_by_service']}")  # fmt: skip
    if "impressions_overhead_ratio" in report:
        print(f"impressions overhead (with / without, twin services in the same slices): "
              f"{report['impressions_overhead_ratio']}; published {report['impressions_published']}")  # fmt: skip
    side = report.get("server_side_inprocess")
    if side:
        print(f"server side, in-process through the BentoML app (no client, no sockets): p50 healthz "
              f"{side['healthz']['p50_ms']} ms, recommend {side['recommend']['p50_ms']} ms "
              f"(+{side['recommend_minus_healthz_p50_ms']} ms); mean-time ratio healthz/recommend "
              f"{side['healthz_over_recommend_mean']:.0%}")  # fmt: skip
    for block in report["by_workers"]:
        c = block["clicks"]
        print(f"clicks ({block['workers']} workers): {c['accepted_202']}/{c['requests']} accepted at "
              f"{c['clicks_per_s']}/s; {c['in_topic']} in the topic, {c['lost']} lost")  # fmt: skip


if __name__ == "__main__":
    main()
