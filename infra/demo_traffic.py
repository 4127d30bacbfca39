"""The online demo's simulated users over HTTP: requests alternating A/B arms, clicks by the click model.

Talks to the real service only (`/recommendations`, `/clicks`, `/online/status`); infra.demo_online runs it.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from infra.demo_models import Aliases
from pipelines.population import ClickModel, Population

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
