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
import time
from collections import Counter
from pathlib import Path

import httpx

from infra.demo_landing import published, wait_landed
from infra.demo_models import Aliases, read_aliases, set_aliases, train_versions, write_population_history
from infra.demo_traffic import Traffic, drive, say, wait_arms
from pipelines.population import arm_users, request_plan
from pipelines.settings import Settings

SCENARIOS = {"better": ("weak", "strong"), "worse": ("strong", "weak")}  # (champion role, challenger role)


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
    if not result["landed_complete"]:
        result["dead_letters"] = dead_letter_kinds(settings)
    report(result)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def dead_letter_kinds(settings: Settings) -> dict[str, int]:
    """Why events are missing, when they are: the dead-letter topic's records by (topic, kind), e.g. late clicks."""
    from streaming.dlq import read_dlq

    kinds = Counter(f"{r.get('topic')}:{r.get('kind')}" for _, _, r in read_dlq(settings))
    return dict(kinds)


def report(result: dict) -> None:
    print(f"\n{'version':>8} {'arm':>11} {'impressions':>12} {'clicks@10':>10} {'CTR@10':>8} {'expected':>9}")
    for version, row in result["ctr_by_version"].items():
        print(f"{'v' + version:>8} {row['arm']:>11} {row['impressions']:>12} {row['clicks']:>10} "
              f"{row['ctr_at_10'] or 0:>8.4f} {row['expected_ctr_at_10']:>9.4f}")  # fmt: skip
    decision = result["decision"]
    if not result["landed_complete"]:
        print("\nNOT everything the population sent was landed by the online job: compare sent_* with the landed "
              f"counts in the result (the decision below is on what was landed); dead letters: "
              f"{result.get('dead_letters')}")  # fmt: skip
    print(
        f"\nonline policy: {'PROMOTE' if decision['promoted'] else 'REFUSE'} - {decision['reason']}\n",
        flush=True,
    )
