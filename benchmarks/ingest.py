"""Landing benchmark: throughput (events/s) and produce -> visible-in-store latency (p50/p99) of the Flink job.

Bounded: its own broker on a free loopback port, its own var dir, the long-running job with the default
checkpoint interval; for each offered rate, produce for --seconds, then wait until every event is visible
in committed part files. Usage: .venvs/ml/bin/python benchmarks/ingest.py [--rates 1000 5000 20000]
[--parallelism N]. landing_throughput = landed / (last visible - first produced), so it includes one
produce->visible latency (a lower bound of the job's rate); all_visible_after_last_produce_s close to one
checkpoint interval means the job kept up with the offered rate, much more means it was saturated.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import socket
import statistics
import tempfile
import time
from pathlib import Path

from infra import flink_job
from infra.broker import start_broker, stop_broker
from pipelines.events import ClickEvent
from pipelines.kafka_config import ensure_topics, producer
from pipelines.landed import committed_files
from pipelines.settings import Settings
from streaming.loadgen import EVENT_MIX, population, produce_event


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LandedWatcher:
    """Polls committed part files; an event's landing time is when its file was first seen."""

    def __init__(self, feedback_dir: Path):
        self.feedback_dir = feedback_dir
        self.seen_files: set[tuple[str, str]] = set()
        self.latency_ms: dict[str, int] = {}

    def poll(self) -> None:
        now_ms = int(time.time() * 1000)
        for dt, names in committed_files(self.feedback_dir).items():
            for name in names:
                if (dt, name) in self.seen_files:
                    continue
                self.seen_files.add((dt, name))
                for line in (self.feedback_dir / f"dt={dt}" / name).read_text().splitlines():
                    row = json.loads(line)
                    self.latency_ms.setdefault(row["event_id"], now_ms - row["ts"])


def bench_events(pop, count: int, seed: int) -> list[ClickEvent]:
    """The loadgen click mix (users, popularity-weighted movies, EVENT_MIX), drawn in bulk (cumulative weights
    once instead of per event, so a 300k-event level is ready in seconds on a loaded box)."""
    rng = random.Random(seed)
    users = rng.choices(pop.users, k=count)
    movies = rng.choices(pop.movies, cum_weights=list(itertools.accumulate(pop.movie_weights)), k=count)
    kinds, weights = zip(*EVENT_MIX, strict=True)
    events = rng.choices(kinds, weights, k=count)
    return [
        ClickEvent(user_id=u, movie_id=m, event=e, source="bench")
        for u, m, e in zip(users, movies, events, strict=True)
    ]


def run_level(settings: Settings, watcher: LandedWatcher, rate: int, seconds: float, seed: int) -> dict:
    count = int(rate * seconds)
    load_before = os.getloadavg()[0]
    events = bench_events(population(settings), count, seed)
    prod = producer(settings.kafka_bootstrap)
    ids = set()
    began = time.monotonic()
    for i, event in enumerate(events):
        due = began + i / rate
        if due - time.monotonic() > 0.002:
            time.sleep(due - time.monotonic())
            watcher.poll() if i % max(rate // 4, 1) == 0 else None
        event = event.model_copy(update={"ts": int(time.time() * 1000)})  # produce time = event time
        ids.add(str(event.event_id))
        produce_event(prod, settings.clicks_topic, event)
    prod.flush(60)
    offered_s = time.monotonic() - began
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not ids <= watcher.latency_ms.keys():
        watcher.poll()
        time.sleep(0.25)
    drained_s = time.monotonic() - began
    lat = sorted(watcher.latency_ms[i] for i in ids if i in watcher.latency_ms)
    landed = len(lat)
    return {
        "offered_rate": rate,
        "produced": count,
        "achieved_produce_rate": round(count / offered_s),
        "landed": landed,
        "not_landed_within_timeout": count - landed,
        "landing_throughput": round(landed / drained_s),
        "latency_p50_s": round(statistics.median(lat) / 1000, 2) if lat else None,
        "latency_p99_s": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))] / 1000, 2) if lat else None,
        "drain_seconds": round(drained_s, 1),
        "all_visible_after_last_produce_s": round(drained_s - offered_s, 1),
        "load_avg_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--seconds", type=float, default=20.0, help="produce time per level")
    parser.add_argument("--parallelism", type=int, help="flink_parallelism (default: the setting)")
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="movierec-bench-")) / "var"
    overrides = {"flink_parallelism": args.parallelism} if args.parallelism else {}
    settings = Settings(var_dir=var, kafka_bootstrap=f"127.0.0.1:{free_port()}", **overrides)
    start_broker(settings)
    try:
        ensure_topics(settings)
        t0 = time.monotonic()
        flink_job.start_job(settings)
        print(json.dumps({"job_start_seconds": round(time.monotonic() - t0, 1)}), flush=True)
        watcher = LandedWatcher(settings.feedback_dir)
        time.sleep(10)  # let the Python workers come up before measuring
        results = []
        for level, rate in enumerate(args.rates):
            results.append(run_level(settings, watcher, rate, args.seconds, seed=level))
            print(json.dumps(results[-1]), flush=True)
        print(json.dumps({"checkpoint_interval_s": settings.flink_checkpoint_interval_s,
                          "parallelism": settings.flink_parallelism, "results": results}, indent=1))  # fmt: skip
    finally:
        flink_job.stop_job(settings)
        stop_broker(settings)


if __name__ == "__main__":
    main()
