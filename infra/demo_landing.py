"""The online demo waits for the Flink online job: every impression and click of a run landed in its windows.

Event time moves on only with new events; once the job has read the run's events, the simulated users `watch`
movies they clicked (no click: no CTR, no trending) until the last window closes and lands.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import httpx

from infra.demo_traffic import SOURCE, Traffic, say
from pipelines.settings import Settings


def landed_counts(settings: Settings, traffic: Traffic) -> tuple[Counter, Counter]:
    """(impressions, clicks@10) landed per (version, arm) in the windows since the run started."""
    from pipelines.online_metrics import read_online_metrics

    window_ms = settings.online_window_s * 1000
    rows = read_online_metrics(settings, since_ms=traffic.started_ms // window_ms * window_ms)
    impressions, clicks = Counter(), Counter()
    for row in rows.itertuples():
        key = (str(row.model_version), row.variant)
        if key in traffic.impressions:
            impressions[key] += int(row.impressions)
            clicks[key] += int(row.clicks_at_10)
    return impressions, clicks


def published(api: httpx.Client) -> int:
    """Impressions the service has handed to the broker so far, dropped ones included (they never will be)."""
    counts = api.get("/online/status").raise_for_status().json()["impressions"] or {}
    return sum(counts.get(key, 0) for key in ("published", "dropped_queue_full", "dropped_broker"))


def wait_read(api: httpx.Client, settings: Settings, traffic: Traffic, timeout: float) -> None:
    """Until the service has published the run's impressions and the online job has read (checkpointed) both
    topics up to their ends. Only then may event time be moved on: impressions still on their way when the
    watermark passes their window would be late (dead-lettered by the online job, not in the run's counts)."""
    from infra.flink_job import pending_offsets

    deadline = time.monotonic() + timeout
    while published(api) < traffic.published_before + sum(traffic.impressions.values()):
        if time.monotonic() > deadline:
            raise TimeoutError("the service did not publish the run's impressions")
        time.sleep(0.5)
    group = settings.flink_online_consumer_group
    for topic in (settings.impressions_topic, settings.clicks_topic):
        _, ends = pending_offsets(settings, topic, group)
        while any(done < ends[p] for p, done in pending_offsets(settings, topic, group)[0].items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the online job did not read {topic} to its end in {timeout:.0f}s")
            time.sleep(1)


def wait_landed(
    api: httpx.Client, settings: Settings, traffic: Traffic, timeout: float
) -> tuple[Counter, Counter]:
    """Until every impression and click of the run is landed; meanwhile, once the online job has read them all
    and the last window is over (plus the allowed lateness), the simulated users `watch` movies they clicked so
    that event time moves on."""
    wait_read(api, settings, traffic, timeout)
    window_ms = settings.online_window_s * 1000
    closes_at = (traffic.ended_ms // window_ms + 1) * window_ms + settings.online_allowed_lateness_s * 1000
    say(f"waiting for the Flink online job to close the last {settings.online_window_s}s window "
        f"(~{max(0, closes_at - time.time() * 1000) / 1000:.0f}s) and land it")  # fmt: skip
    deadline, ticks, landed = time.monotonic() + timeout, 0, (Counter(), Counter())
    rng, polls = random.Random(0), 0
    while time.monotonic() < deadline:
        landed = landed_counts(settings, traffic)
        if landed[0] >= traffic.impressions and landed[1] >= traffic.clicks:
            break
        polls += 1
        if time.time() * 1000 > closes_at and traffic.clicked and polls % 3 == 1:  # every ~6 s
            pairs = rng.sample(
                traffic.clicked, min(5, len(traffic.clicked))
            )  # several users: several partitions
            events = [{"user_id": u, "movie_id": m, "event": "watch", "source": SOURCE} for u, m in pairs]
            api.post("/clicks", json={"events": events}).raise_for_status()
            ticks += len(events)
        time.sleep(2)
    say(f"landed: impressions {dict(landed[0])}, clicks@10 {dict(landed[1])} ({ticks} watch events sent)")
    return landed
