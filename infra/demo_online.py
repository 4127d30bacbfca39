"""`movierec demo --phase online`: a simulated population A/B-tests a truly better (or worse) challenger on a
running stack, and the online promotion policy decides.

1. the population (pipelines.population) and its two model versions (infra.demo_models) in the real registry;
2. champion/challenger aliases set for the scenario (`better`: challenger = strong; `worse`: challenger = weak);
   the service hot-swaps both;
3. as many users from each A/B arm (pipelines.ab.variant_for, so ~equal impressions per arm even with the default
   challenger fraction 0.1), requests alternating between arms; each answer's clicks drawn by the click model and
   posted with the answer's request_id;
4. wait until the Flink online job has landed every impression and click of the run (the simulated users keep
   `watch`ing what they clicked, which moves the event-time watermark past the last window: `watch` is no click);
5. the online policy's decision (pipelines.online_gate, as the DAG's promote stage); the aliases are restored.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.demo_models import Aliases, read_aliases, set_aliases, train_versions, write_population_history
from pipelines.population import ClickModel, Population, arm_users, request_plan
from pipelines.settings import Settings

SCENARIOS = {"better": ("weak", "strong"), "worse": ("strong", "weak")}  # (champion role, challenger role)
SOURCE = "demo-population"  # the `source` of the simulated users' clicks (visible in the landed feedback)


def say(message: str) -> None:
    print(f"--> {message}", flush=True)


@dataclass
class Traffic:
    """What the driver sent, per (model version, arm): answers (impressions) and clicks; the clicks' pairs."""

    impressions: Counter = field(default_factory=Counter)
    clicks: Counter = field(default_factory=Counter)
    expected_clicks: Counter = field(
        default_factory=Counter
    )  # sum of the click model's expectation per answer
    clicked: list[tuple[int, int]] = field(default_factory=list)  # (user, movie), newest last
    wrong_arm: int = 0  # answers whose arm differs from pipelines.ab.variant_for (must stay 0)
    published_before: int = 0  # the service's impressions published (or dropped) before the run
    started_ms: int = 0
    ended_ms: int = 0


def wait_arms(api: httpx.Client, arms: Aliases, timeout: float) -> None:
    """Until the service serves exactly these champion and challenger versions (its watcher polls the registry)."""
    deadline, ab = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        ab = api.get("/online/status").raise_for_status().json()["ab"]
        if (ab["champion_version"], ab["challenger_version"]) == (arms.champion, arms.challenger) and ab[
            "active"
        ]:
            return
        time.sleep(1)
    raise TimeoutError(f"the service did not swap to champion v{arms.champion} / challenger v{arms.challenger} in "
                       f"{timeout:.0f}s (it serves {ab})")  # fmt: skip


def drive(api: httpx.Client, population: Population, plan: list[int], fraction: float, seed: int) -> Traffic:
    """One request per planned user; the click model decides the clicks, posted with the answer's request_id."""
    from pipelines.ab import variant_for

    model, rng, traffic = ClickModel(), random.Random(seed), Traffic(started_ms=int(time.time() * 1000))
    for user in plan:
        body = api.get(f"/recommendations/{user}", params={"k": 10}).raise_for_status().json()
        key = (str(body["model"]["version"]), body["variant"])
        traffic.wrong_arm += body["variant"] != variant_for(user, fraction)
        items = [item["movie_id"] for item in body["items"]]
        traffic.impressions[key] += 1
        traffic.expected_clicks[key] += model.expected_clicks(items, population.liked[user])
        clicked = model.clicks(items, population.liked[user], rng)
        if clicked:
            events = [{"user_id": user, "movie_id": m, "event": "click", "request_id": body["request_id"],
                       "source": SOURCE} for m in clicked]  # fmt: skip
            api.post("/clicks", json={"events": events}).raise_for_status()
            traffic.clicks[key] += len(clicked)
            traffic.clicked += [(user, m) for m in clicked]
    traffic.ended_ms = int(time.time() * 1000)
    return traffic


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
    topics up to their ends. Only then may event time be moved on: impressions still on their way after the
    watermark passed their window (their source idle meanwhile) would miss it, uncounted."""
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


def per_version(traffic: Traffic, landed: tuple[Counter, Counter]) -> dict[str, dict]:
    """{version: {arm, impressions, clicks, ctr_at_10 (landed), sent_*, expected_ctr_at_10 (the click model's)}}."""
    out = {}
    for (version, arm), sent in sorted(traffic.impressions.items()):
        impressions, clicks = landed[0][(version, arm)], landed[1][(version, arm)]
        out[version] = {"arm": arm, "impressions": impressions, "clicks": clicks,
                        "ctr_at_10": round(clicks / impressions, 4) if impressions else None,
                        "sent_impressions": sent, "sent_clicks": traffic.clicks[(version, arm)],
                        "expected_ctr_at_10": round(traffic.expected_clicks[(version, arm)] / sent, 4)}  # fmt: skip
    return out


def decide(settings: Settings, champion_version: str) -> dict:
    """The online policy's decision on the landed evidence: the very functions the DAG's promote stage calls."""
    from pipelines.online_gate import online_evidence, online_policy_decision

    evidence = online_evidence(settings, champion_version)
    promoted, reason = online_policy_decision(settings, evidence)
    return {"promoted": promoted, "reason": reason, "champion_version": champion_version,
            "challenger_version": evidence.challenger_version, "totals": evidence.totals, "test": evidence.test}  # fmt: skip


def run(settings: Settings, scenario: str = "better", requests: int = 1200, seed: int = 7, out: Path | None = None,
        tag: str | None = None, swap_timeout: float | None = None, land_timeout: float = 300) -> dict:  # fmt: skip
    """The whole online phase on a running stack; returns (and writes to `out`) the result dict.

    `tag` names the model pair (default: a new pair per run); `landed_complete` is False when the online job did
    not land every impression and click the driver sent within land_timeout (the counts say which)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {sorted(SCENARIOS)}, got {scenario!r}")
    began, before = (
        time.monotonic(),
        read_aliases(settings),
    )  # before training: registering moves `challenger`
    population = write_population_history(settings)
    say(f"population: {len(population.users)} users of {settings.dataset} with known tastes (their later ratings "
        ">= 4); training/reusing the demo's two versions on the rest of their history")  # fmt: skip
    versions = train_versions(settings, tag or time.strftime("%Y%m%dT%H%M%S"))
    champion_role, challenger_role = SCENARIOS[scenario]
    arms = Aliases(versions[champion_role], versions[challenger_role])
    fraction = settings.ab_challenger_fraction
    by_arm = arm_users(population.users, fraction, seed)
    plan = request_plan(by_arm, requests, seed)
    say(
        f"scenario {scenario}: champion v{arms.champion} ({champion_role}), challenger v{arms.challenger} "
        f"({challenger_role}); registry aliases were champion v{before.champion}, challenger v{before.challenger}"
    )
    say(
        f"challenger fraction {fraction}: {len(by_arm['challenger'])} users per arm (champion arm sampled down to "
        f"the challenger arm's size), {len(plan)} requests alternating arms -> ~equal impressions per arm"
    )
    swap_timeout = swap_timeout or settings.model_poll_interval_s * 2 + 120
    with httpx.Client(base_url=f"http://{settings.serving_host}:{settings.serving_port}", timeout=30) as api:
        try:
            set_aliases(settings, arms)
            wait_arms(api, arms, swap_timeout)
            before_run = published(api)
            traffic = drive(api, population, plan, fraction, seed)
            traffic.published_before = before_run
            say(f"sent {sum(traffic.impressions.values())} requests, {sum(traffic.clicks.values())} clicks "
                f"in {(traffic.ended_ms - traffic.started_ms) / 1000:.0f}s")  # fmt: skip
            landed = wait_landed(api, settings, traffic, land_timeout)
            decision = decide(settings, arms.champion)
        finally:
            set_aliases(settings, before)
            say(f"aliases restored: champion v{before.champion}, challenger v{before.challenger}")
        status = api.get("/online/status").json().get("impressions")
    by_version = per_version(traffic, landed)
    result = {"scenario": scenario, "ctr_by_version": by_version,
              "impressions": sum(v["impressions"] for v in by_version.values()),
              "clicks": sum(v["clicks"] for v in by_version.values()), "decision": decision,
              "landed_complete": landed[0] >= traffic.impressions and landed[1] >= traffic.clicks,
              "champion_version": arms.champion, "challenger_version": arms.challenger, "roles": versions,
              "users_per_arm": len(by_arm["challenger"]), "requests": len(plan), "wrong_arm": traffic.wrong_arm,
              "service_impressions": status, "online_window_s": settings.online_window_s,
              "seconds": round(time.monotonic() - began, 1), "loadavg": os.getloadavg()}  # fmt: skip
    report(result)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def report(result: dict) -> None:
    print(f"\n{'version':>8} {'arm':>11} {'impressions':>12} {'clicks@10':>10} {'CTR@10':>8} {'expected':>9}")
    for version, row in result["ctr_by_version"].items():
        print(f"{'v' + version:>8} {row['arm']:>11} {row['impressions']:>12} {row['clicks']:>10} "
              f"{row['ctr_at_10'] or 0:>8.4f} {row['expected_ctr_at_10']:>9.4f}")  # fmt: skip
    decision = result["decision"]
    if not result["landed_complete"]:
        print("\nNOT everything the population sent was landed by the online job: compare sent_* with the landed "
              "counts in the result (the decision below is on what was landed)")  # fmt: skip
    print(
        f"\nonline policy: {'PROMOTE' if decision['promoted'] else 'REFUSE'} - {decision['reason']}\n",
        flush=True,
    )
