"""Online-evaluation benchmark (issue 14): the online Flink job's throughput, the landing job with impressions on,
click -> attributed-metric latency, and impressions dropped by the service's publisher.

Its own tansu broker (port --port, default 19101) and var dir (var/bench-online/ of this checkout). Phases:

- backlog: N impressions (10-20 items, popularity-weighted, ts spread like traffic: --span-s of event time) + M
  clicks (by request_id, by user+movie, unknown request_id, no impression, likes, re-sent duplicates) produced
  first, then the bounded online job and the bounded landing job run AT THE SAME TIME; every landed window is
  compared with the same rule computed here in Python (exact, per window and arm) and the landed clicks with the
  distinct produced ones;
- live: both long-running jobs; (1) a realistic level (--live-imp-rate impressions/s, --live-click-rate clicks/s,
  online_window_s = --live-window-s) for click_to_metric p50/p99 (produce -> its window row committed in the
  online-metrics files); (2) a landing level: --landing-rate clicks/s plus impressions for --seconds, landing
  throughput as in benchmarks/ingest.py (landed / (last visible - first produced));
- publisher: serving.impressions.ImpressionPublisher with the default buffer, a burst of --burst impressions offered
  as fast as one thread can: how many it drops.

Usage: .venvs/ml/bin/python -m benchmarks.online [--phases backlog live publisher] [--impressions 50000 --clicks
15000]. Writes benchmarks/results/online.json (figures + load average + sizes).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import threading
import time
import uuid
from collections import deque
from pathlib import Path

from benchmarks.ingest import LandedWatcher
from infra import flink_job
from infra.broker import start_broker, stop_broker
from pipelines.events import ClickEvent
from pipelines.impressions import ImpressionEvent
from pipelines.kafka_config import ensure_topics, producer
from pipelines.landed import committed_files
from pipelines.online_metrics import UNATTRIBUTED
from pipelines.settings import PROJECT_ROOT, Settings
from streaming.loadgen import population, produce_event
from streaming.online_sql import NO_IMPRESSION, UNKNOWN_REQUEST

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "online.json"
S = 1000
# click kinds: (share, kind); a share of 1% of the clicks is re-sent with the same event_id
CLICK_MIX = ((0.45, "by_request"), (0.25, "by_user"), (0.08, "unknown_request"), (0.10, "no_impression"),
             (0.12, "like"))  # fmt: skip
ARMS = (("champion", "1", 0.9), ("challenger", "2", 0.1))
STRATEGIES = (("personalized", 0.7), ("personalized_from_clicks", 0.1), ("cold_start", 0.2))


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class StreamGen:
    """Impressions and the clicks they lead to, drawn from the MovieLens population (seeded)."""

    def __init__(self, settings: Settings, seed: int):
        pop = population(settings)
        self.rng = random.Random(seed)
        self.users, self.movies = pop.users, pop.movies
        self.cum = list(itertools.accumulate(pop.movie_weights))

    def impression(self, ts: int) -> ImpressionEvent:
        rng = self.rng
        n = rng.randint(10, 20)
        items = list(dict.fromkeys(rng.choices(self.movies, cum_weights=self.cum, k=2 * n)))[:n]
        variant, version, _ = ARMS[0] if rng.random() < ARMS[0][2] else ARMS[1]
        strategy = rng.choices([s for s, _ in STRATEGIES], [w for _, w in STRATEGIES])[0]
        return ImpressionEvent(user_id=rng.choice(self.users), model_name="movierec", model_version=version,
                               variant=variant, strategy=strategy, items=items, ts=ts)  # fmt: skip

    def click(self, recent: list[ImpressionEvent], ts: int) -> ClickEvent:
        """One click at ts (kind drawn from CLICK_MIX) on one of the `recent` impressions."""
        rng = self.rng
        kind = rng.choices([k for _, k in CLICK_MIX], [w for w, _ in CLICK_MIX])[0]
        if kind == "no_impression" or not recent:
            movie = rng.choices(self.movies, cum_weights=self.cum)[0]
            return ClickEvent(user_id=rng.choice(self.users), movie_id=movie, ts=ts, source="bench")
        imp = rng.choice(recent)
        pos = min(int(rng.expovariate(1 / 4)), len(imp.items) - 1)  # top positions are clicked more
        rid = {"by_request": imp.request_id, "unknown_request": uuid.uuid4()}.get(kind)
        return ClickEvent(user_id=imp.user_id, movie_id=imp.items[pos], ts=ts, request_id=rid, source="bench",
                          event="like" if kind == "like" else "click")  # fmt: skip


def backlog_stream(gen: StreamGen, n_imp: int, n_clicks: int, end_ms: int, span_s: int):
    """(impressions, clicks, duplicates) in production order: unique ts, shuffled within blocks of 16 (a few
    hundred ms of disorder, well inside the allowed lateness); clicks 0.2-120 s after the impression."""
    rng = gen.rng
    step = span_s * S / n_imp
    start = end_ms - span_s * S
    imps = [gen.impression(start + int(k * step)) for k in range(n_imp)]
    clicks = []
    for _ in range(n_clicks):
        k = rng.randrange(n_imp)
        ts = imps[k].ts + int(rng.uniform(0.2, 120) * S)
        clicks.append(gen.click(imps[max(0, k - 50) : k + 1], ts))
    clicks.sort(key=lambda c: c.ts)
    dups = rng.sample(clicks, len(clicks) // 100)
    return _shuffle_blocks(imps, rng), _shuffle_blocks(clicks, rng), dups


def _shuffle_blocks(events: list, rng: random.Random, block: int = 16) -> list:
    out = []
    for i in range(0, len(events), block):
        chunk = events[i : i + block]
        rng.shuffle(chunk)
        out += chunk
    return out


class ShownIndex:
    """The documented fallback rule in Python: the latest impression (as of a time) that showed a movie to a user."""

    def __init__(self, impressions):
        """`impressions`: (ImpressionEvent, ts) pairs; ts is when it counts (its own ts, or when it was sent)."""
        self.by_pair: dict[tuple[int, int], list[tuple[ImpressionEvent, int]]] = {}
        for e, ts in sorted(impressions, key=lambda pair: pair[1]):
            for movie in dict.fromkeys(e.items):
                self.by_pair.setdefault((e.user_id, movie), []).append((e, ts))

    def latest(self, click: ClickEvent, at: int) -> tuple[ImpressionEvent, int] | None:
        before = [pair for pair in self.by_pair.get((click.user_id, click.movie_id), []) if pair[1] <= at]
        return before[-1] if before else None


def expected_rows(settings: Settings, imps: list[ImpressionEvent], clicks: list[ClickEvent]) -> dict:
    """{(window_start, version, variant, strategy): (impressions, clicks, clicks_at_10, position sum)} by the
    documented rule: by request_id, else the user's latest impression (as of the click) that showed the movie;
    either way at most attribution_window_s before the click."""
    w, window = settings.online_window_s * S, settings.attribution_window_s * S
    rows: dict = {}

    def add(ts, key, i, c, c10, pos):
        k = (ts - ts % w, *key)
        old = rows.get(k, (0, 0, 0, 0))
        rows[k] = (old[0] + i, old[1] + c, old[2] + c10, old[3] + pos)

    for e in imps:
        add(e.ts, (e.model_version, e.variant, e.strategy), 1, 0, 0, 0)
    by_request = {str(e.request_id): e for e in imps}
    shown = ShownIndex((e, e.ts) for e in imps)
    for c in {c.event_id: c for c in clicks if c.event == "click"}.values():
        if c.request_id is not None:
            imp, miss = by_request.get(str(c.request_id)), UNKNOWN_REQUEST
            imp = imp if imp is not None and imp.ts <= c.ts else None
        else:
            found = shown.latest(c, c.ts)
            imp, miss = (found[0] if found else None), NO_IMPRESSION
        pos = imp.position(c.movie_id) if imp is not None and c.ts - imp.ts <= window else None
        if pos is None:
            add(c.ts, ("", UNATTRIBUTED, miss), 0, 1, 0, 0)
        else:
            add(c.ts, (imp.model_version, imp.variant, imp.strategy), 0, 1, int(pos <= 10), pos)
    return rows


def landed_rows(settings: Settings) -> dict:
    return {
        (r["window_start"], r["model_version"], r["variant"], r["strategy"]):
            (r["impressions"], r["clicks"], r["clicks_at_10"], r["mean_clicked_position"])
        for r in read_metric_rows(settings.online_metrics_dir)
    }  # fmt: skip


def read_metric_rows(root: Path, files=None) -> list[dict]:
    """The rows of the committed online-metric part files (all, or only `files`: {(dt, name)})."""
    if files is None:
        files = {(dt, name) for dt, names in committed_files(root).items() for name in names}
    return [json.loads(line) for dt, name in sorted(files)
            for line in (root / f"dt={dt}" / name).read_text().splitlines() if line.strip()]  # fmt: skip


def compare(expected: dict, got: dict) -> dict:
    """Counts must match exactly; the mean clicked position to 1e-9 (attributed clicks only)."""
    bad = []
    for key in expected.keys() | got.keys():
        e, g = expected.get(key), got.get(key)
        if (
            e is None
            or g is None
            or e[:3] != g[:3]
            or key[2] != UNATTRIBUTED
            and e[1]
            and (g[3] is None or abs(g[3] - e[3] / e[1]) > 1e-9)
        ):
            bad.append((key, e, g))
    return {"rows": len(expected), "mismatched_rows": len(bad), "first_mismatches": [str(b) for b in bad[:3]]}


def produce_all(s: Settings, imps, clicks, dups) -> None:
    prod = producer(s.kafka_bootstrap, **{"linger.ms": 20})
    for topic, events in ((s.impressions_topic, imps), (s.clicks_topic, clicks + dups)):
        for e in events:
            produce_event(prod, topic, e)  # an ImpressionEvent has the same kafka_key / to_json_bytes
    assert prod.flush(60) == 0


def phase_backlog(s: Settings, n_imp: int, n_clicks: int, span_s: int, seed: int) -> dict:
    gen = StreamGen(s, seed)
    end_ms = int(time.time() * S) - 200 * S  # clicks reach up to 120 s past the last impression
    imps, clicks, dups = backlog_stream(gen, n_imp, n_clicks, end_ms, span_s)
    produce_all(s, imps, clicks, dups)
    load_before = load()
    results: dict = {}
    submitted: dict = {}
    logs = {flink_job.ONLINE: "flink-online-bounded.log", flink_job.LANDING: "flink-bounded.log"}

    def run(job):
        results[job] = flink_job.run_bounded(s, timeout=1800, job=job)
        ended[job] = time.monotonic()

    def watch_submit(job):  # start-up (planning + submission, ~10-90 s on a loaded box) is not throughput
        log = s.logs_dir / logs[job]
        while job not in results:
            if log.is_file() and "submitted" in log.read_text(errors="replace"):
                submitted[job] = time.monotonic()
                return
            time.sleep(0.2)

    ended: dict = {}
    threads = [threading.Thread(target=f, args=(j,)) for j in logs for f in (run, watch_submit)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    online, landing = results[flink_job.ONLINE], results[flink_job.LANDING]
    after_submit = {j: round(ended[j] - submitted[j], 1) if j in submitted else None for j in logs}
    check = compare(expected_rows(s, imps, clicks), landed_rows(s))
    landed = LandedWatcher(s.feedback_dir)
    landed.poll()
    distinct = {str(c.event_id) for c in clicks}
    n_events = n_imp + len(clicks) + len(dups)
    return {
        "impressions": n_imp, "clicks_produced": len(clicks) + len(dups), "clicks_resent": len(dups),
        "event_time_span_s": span_s, "online_window_s": s.online_window_s,
        "online_bounded_seconds": online["seconds"], "online_events_per_s": round(n_events / online["seconds"]),
        "online_seconds_after_submit": after_submit[flink_job.ONLINE],
        "online_events_per_s_after_submit": round(n_events / after_submit[flink_job.ONLINE])
        if after_submit[flink_job.ONLINE] else None,
        "landing_bounded_seconds": landing["seconds"], "landing_seconds_after_submit": after_submit[flink_job.LANDING],
        "landed_clicks": len(landed.latency_ms), "landed_equals_distinct_produced": landed.latency_ms.keys() == distinct,
        "online_metrics_check": check, "load_avg_before": load_before, "load_avg_after": load(),
    }  # fmt: skip


class MetricWatcher:
    """First time each online window row is seen in committed files (epoch ms)."""

    def __init__(self, root: Path):
        self.root, self.seen_files, self.first_seen = root, set(), {}

    def poll(self) -> None:
        now = int(time.time() * S)
        new = {(dt, n) for dt, names in committed_files(self.root).items() for n in names} - self.seen_files
        self.seen_files |= new
        for r in read_metric_rows(self.root, new):
            key = (r["window_start"], r["model_version"], r["variant"], r["strategy"])
            self.first_seen.setdefault(key, (now, r))


def live_level(
    s: Settings, gen: StreamGen, imp_rate: float, click_rate: float, seconds: float, watchers
) -> dict:
    """Produce impressions + clicks at the given rates for `seconds`, ts = the time each is produced.

    Drawn and encoded before the clock starts (with ts 0, patched into the bytes when sent), so one Python
    thread can offer several thousand events/s on a loaded box. Returns [(event, ts, topic)] as sent."""
    recent: deque = deque(maxlen=50)
    planned = []
    for _ in range(int((imp_rate + click_rate) * seconds)):
        if gen.rng.random() < imp_rate / (imp_rate + click_rate):
            e, topic = gen.impression(0), s.impressions_topic
            recent.append(e)
        else:
            e, topic = gen.click(list(recent), 0), s.clicks_topic
        planned.append((e, topic, e.to_json_bytes()))
    prod = producer(s.kafka_bootstrap, **{"linger.ms": 5})
    sent = []
    began = time.monotonic()
    rate = imp_rate + click_rate
    for i, (e, topic, value) in enumerate(planned):
        due = began + i / rate
        if due - time.monotonic() > 0.002:
            time.sleep(due - time.monotonic())
            for w in watchers:
                w.poll() if i % max(int(rate) // 4, 1) == 0 else None
        now = int(time.time() * S)
        while True:
            try:
                prod.produce(topic, key=e.kafka_key(), value=value.replace(b'"ts":0', b'"ts":%d' % now, 1))
                break
            except BufferError:
                prod.poll(0.05)
        prod.poll(0)
        sent.append((e, now, topic))
    prod.flush(60)
    return {"sent": sent, "offered_s": time.monotonic() - began}


def click_keys(s: Settings, sent) -> list[tuple[tuple, int]]:
    """(window row key, produce ms) of every attributed click, by the rule of expected_rows."""
    w, window = s.online_window_s * S, s.attribution_window_s * S
    imps = [(e, ts) for e, ts, topic in sent if topic == s.impressions_topic]
    by_request = {str(e.request_id): (e, ts) for e, ts in imps}
    shown = ShownIndex(imps)
    out = []
    for c, ts, topic in sent:
        if topic != s.clicks_topic or c.event != "click":
            continue
        imp = by_request.get(str(c.request_id)) if c.request_id is not None else shown.latest(c, ts)
        if imp is not None and imp[1] <= ts and ts - imp[1] <= window and imp[0].position(c.movie_id):
            e = imp[0]
            out.append(((ts - ts % w, e.model_version, e.variant, e.strategy), ts))
    return out


def phase_live(s: Settings, args, seed: int) -> dict:
    gen = StreamGen(s, seed)
    t0 = time.monotonic()
    flink_job.start_job(s, fresh=True, job=flink_job.ONLINE)
    flink_job.start_job(s, fresh=True, job=flink_job.LANDING)
    out: dict = {"jobs_start_seconds": round(time.monotonic() - t0, 1)}
    try:
        time.sleep(10)
        metrics, landed = MetricWatcher(s.online_metrics_dir), LandedWatcher(s.feedback_dir)
        load_before = load()
        sent = live_level(
            s, gen, args.live_imp_rate, args.live_click_rate, args.live_seconds, [metrics, landed]
        )
        # traffic goes on (not measured) so the watermarks pass the last measured window as they would in use
        tail_s = s.online_window_s + s.online_allowed_lateness_s + 2 * s.flink_checkpoint_interval_s
        live_level(s, gen, args.live_imp_rate, args.live_click_rate, tail_s, [metrics, landed])
        keys = click_keys(s, sent["sent"])
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not all(k in metrics.first_seen for k, _ in keys):
            metrics.poll()
            time.sleep(0.2)
        lat = sorted((metrics.first_seen[k][0] - at) / S for k, at in keys if k in metrics.first_seen)
        out["realistic"] = {
            "impressions_per_s": args.live_imp_rate, "clicks_per_s": args.live_click_rate,
            "seconds": args.live_seconds, "online_window_s": s.online_window_s,
            "allowed_lateness_s": s.online_allowed_lateness_s, "checkpoint_interval_s": s.flink_checkpoint_interval_s,
            "attributed_clicks": len(keys), "visible": len(lat),
            "click_to_metric_p50_s": round(statistics.median(lat), 2) if lat else None,
            "click_to_metric_p99_s": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 2) if lat else None,
            "load_avg_before": load_before, "load_avg_after": load(),
        }  # fmt: skip
        print(json.dumps(out["realistic"]), flush=True)
        # the landing level: clicks at --landing-rate with impressions flowing and the online job on ...
        out["landing"] = landing_level(s, gen, args, args.landing_imp_rate, landed)
        out["online_lag_after_landing_level"] = online_lag(s)
        # ... and the same clicks with the online job stopped and no impressions (the ratio is the cost)
        flink_job.stop_job(s, job=flink_job.ONLINE)
        out["landing_alone"] = landing_level(s, gen, args, 0, landed)
        out["landing_ratio_with_online_vs_alone"] = round(
            out["landing"]["events_per_s_landed"] / out["landing_alone"]["events_per_s_landed"], 2
        )
    finally:
        flink_job.stop_job(s, job=flink_job.ONLINE)
        flink_job.stop_job(s, job=flink_job.LANDING)
    return out


def landing_level(s: Settings, gen: StreamGen, args, imp_rate: float, landed: LandedWatcher) -> dict:
    """Clicks at --landing-rate (+ imp_rate impressions/s) for --seconds: landed / (last visible - first produced)."""
    load_before = load()
    sent = live_level(s, gen, imp_rate, args.landing_rate, args.seconds, [landed])
    ids = {str(e.event_id) for e, _, topic in sent["sent"] if topic == s.clicks_topic}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not ids <= landed.latency_ms.keys():
        landed.poll()
        time.sleep(0.25)
    done_ms = int(time.time() * S)
    n_landed = len(ids & landed.latency_ms.keys())
    lat = sorted(landed.latency_ms[i] / S for i in ids if i in landed.latency_ms)
    result = {
        "offered_clicks_per_s": args.landing_rate, "impressions_per_s": imp_rate, "seconds": args.seconds,
        "clicks": len(ids), "landed": n_landed, "achieved_produce_rate": round(len(sent["sent"]) / sent["offered_s"]),
        "events_per_s_landed": round(n_landed / ((done_ms - sent["sent"][0][1]) / S)),
        "all_visible_after_last_produce_s": round((done_ms - sent["sent"][-1][1]) / S, 1),
        "latency_p99_s": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 2) if lat else None,
        "load_avg_before": load_before, "load_avg_after": load(),
    }  # fmt: skip
    print(json.dumps(result), flush=True)
    return result


def online_lag(s: Settings, wait_s: float = 120) -> dict:
    """Seconds until the online job's committed offsets reach the end both topics had when this was called (None:
    not within wait_s). The end is taken once: the job's own watermark ticks keep adding records after it."""
    began = time.monotonic()
    ends = {t: flink_job.pending_offsets(s, t, s.flink_online_consumer_group)[1]
            for t in (s.impressions_topic, s.clicks_topic)}  # fmt: skip
    while time.monotonic() - began < wait_s:
        lag = 0
        for topic, stop in ends.items():
            start = flink_job.pending_offsets(s, topic, s.flink_online_consumer_group)[0]
            lag += sum(max(0, stop[p] - start[p]) for p in stop)
        if lag == 0:
            return {"caught_up_after_s": round(time.monotonic() - began, 1)}
        time.sleep(2)
    return {"caught_up_after_s": None, "remaining_lag": lag}


def publish_burst(s: Settings, payloads: list, rate: float | None) -> dict:
    """Offer payloads to a fresh ImpressionPublisher (default buffer) at `rate`/s (None: as fast as one thread can),
    wait until every one is published or dropped, and return its counters."""
    from serving.impressions import ImpressionPublisher

    pub = ImpressionPublisher(s.kafka_bootstrap, s.impressions_topic, s.impression_buffer_max)
    began = time.monotonic()
    for i, (key, value) in enumerate(payloads):
        if rate and began + i / rate - time.monotonic() > 0.002:
            time.sleep(began + i / rate - time.monotonic())
        pub.offer(key, value)
    offered_s = time.monotonic() - began
    handled = lambda st: st["published"] + st["dropped_queue_full"] + st["dropped_broker"]  # noqa: E731
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and handled(pub.status()) < len(payloads):
        time.sleep(0.05)
    drained_s = time.monotonic() - began
    pub.close(timeout=60)
    status = pub.status()
    return {"offered": len(payloads), "offered_per_s": round(len(payloads) / offered_s),
            "all_handled_after_s": round(drained_s, 2), **status,
            "impressions_dropped": status["dropped_queue_full"] + status["dropped_broker"]}  # fmt: skip


def phase_publisher(s: Settings, burst: int, rate: float) -> dict:
    gen = StreamGen(s, 7)
    now = int(time.time() * S)
    payloads = [(e.kafka_key(), e.to_json_bytes()) for e in (gen.impression(now) for _ in range(burst))]
    return {"buffer_max": s.impression_buffer_max, "paced": {"rate": rate, **publish_burst(s, payloads, rate)},
            "unpaced": publish_burst(s, payloads, None)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--phases", nargs="+", default=["backlog", "live", "publisher"])
    parser.add_argument("--port", type=int, default=19101)
    parser.add_argument("--impressions", type=int, default=50_000)
    parser.add_argument("--clicks", type=int, default=15_000)
    parser.add_argument("--span-s", type=int, default=500, help="event time the backlog's impressions span")
    parser.add_argument("--live-imp-rate", type=float, default=200)
    parser.add_argument("--live-click-rate", type=float, default=50)
    parser.add_argument("--live-seconds", type=float, default=60)
    parser.add_argument("--live-window-s", type=int, default=5)
    parser.add_argument("--landing-rate", type=float, default=15000)
    parser.add_argument("--landing-imp-rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=20, help="produce time of the landing level")
    parser.add_argument("--burst", type=int, default=50_000, help="impressions offered to the publisher")
    parser.add_argument("--burst-rate", type=float, default=5000, help="offers/s of the paced burst")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    var = PROJECT_ROOT / "var" / "bench-online"
    shutil.rmtree(var, ignore_errors=True)
    base = Settings(var_dir=var, kafka_bootstrap=f"127.0.0.1:{args.port}")
    # phases not run this time keep their figures from the previous file (each phase records its own load)
    result: dict = json.loads(args.out.read_text()) if args.out.is_file() else {}
    result.update({"command": "python -m benchmarks.online " + " ".join(sys.argv[1:]), "cores": os.cpu_count(),
                   "parallelism": base.flink_parallelism, "load_avg_start": load(),
                   "demo_ctr_by_version": demo_ctr_by_version()})  # fmt: skip
    start_broker(base)
    try:
        if "backlog" in args.phases:
            s = phase_settings(base, "backlog")
            result["backlog"] = phase_backlog(s, args.impressions, args.clicks, args.span_s, seed=1)
            print(json.dumps(result["backlog"]), flush=True)
        if "live" in args.phases:
            s = phase_settings(base, "live", online_window_s=args.live_window_s)
            result["live"] = phase_live(s, args, seed=2)
        if "publisher" in args.phases:
            result["publisher"] = phase_publisher(
                phase_settings(base, "publisher"), args.burst, args.burst_rate
            )
            print(json.dumps(result["publisher"]), flush=True)
    finally:
        stop_broker(base)
    result["events_per_s_landed"] = result.get("live", {}).get("landing", {}).get("events_per_s_landed")
    result["online_events_per_s"] = result.get("backlog", {}).get("online_events_per_s")  # start-up included
    result["online_events_per_s_after_submit"] = result.get("backlog", {}).get(
        "online_events_per_s_after_submit"
    )
    result["click_to_metric_p99_s"] = result.get("live", {}).get("realistic", {}).get("click_to_metric_p99_s")
    result["impressions_dropped"] = result.get("publisher", {}).get("paced", {}).get("impressions_dropped")
    result["load_avg_end"] = load()
    print(json.dumps(result, indent=1))
    args.out.write_text(json.dumps(result, indent=1) + "\n")


def demo_ctr_by_version() -> dict | None:
    """CTR@10 per model version of the last `make demo-online` run (infra.demo_online writes online_demo.json)."""
    demo = RESULTS.with_name("online_demo.json")
    if not demo.is_file():
        return None
    by_version = json.loads(demo.read_text())["ctr_by_version"]
    return {
        v: {k: row[k] for k in ("arm", "impressions", "clicks", "ctr_at_10")} for v, row in by_version.items()
    }


def phase_settings(base: Settings, phase: str, **overrides) -> Settings:
    s = base.model_copy(update={
        "var_dir": base.var_dir / phase, "feedback_dir": base.var_dir / phase / "feedback",
        "online_metrics_dir": base.var_dir / phase / "online-metrics",
        "clicks_topic": f"clicks-{phase}", "impressions_topic": f"impressions-{phase}", "dlq_topic": f"dlq-{phase}",
        "trending_topic": f"trending-{phase}", "flink_consumer_group": f"landing-{phase}",
        "flink_online_consumer_group": f"online-{phase}", **overrides,
    })  # fmt: skip
    ensure_topics(s)
    return s


if __name__ == "__main__":
    main()
