"""Replica freshness check of a running cluster profile: a like posted to one replica leaves the other replica's
top-k within `budget_s` (the click travels replica -> tansu on s3:// -> the other replica's consumer).

Posts one real `like` per replica pair (it lands like any click). Used by benchmarks/cluster.py (`--parts
freshness`) against a profile started with `movierec stack up --profile cluster`.
"""

from __future__ import annotations

import time

import httpx


def top_ids(client: httpx.Client, user: int, k: int = 10) -> list[int]:
    resp = client.get(f"/recommendations/{user}", params={"k": k})
    resp.raise_for_status()
    return [m["movie_id"] for m in resp.json()["items"]]


def check(ports: list[int], user: int, budget_s: float = 2.0, timeout: float = 10.0) -> dict:
    """Like replica 0's top item for `user` there; seconds until every other replica excludes it (None: never)."""
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=10) for p in ports]
    top = top_ids(clients[0], user)[0]
    if any(top not in top_ids(c, user) for c in clients[1:]):
        raise RuntimeError(f"replicas disagree on user {user}'s top item before the click: pick another user")
    resp = clients[0].post("/click", json={"user_id": user, "movie_id": top, "event": "like"})
    resp.raise_for_status()
    acked = time.monotonic()
    seen: dict[int, float | None] = {}
    for port, client in zip(ports[1:], clients[1:], strict=True):
        seen[port] = None
        while time.monotonic() - acked < timeout:
            if top not in top_ids(client, user):
                seen[port] = round(time.monotonic() - acked, 3)
                break
            time.sleep(0.05)
    ok = all(s is not None and s <= budget_s for s in seen.values())
    return {"user": user, "movie": top, "seconds_to_other_replicas": seen, "budget_s": budget_s, "ok": ok}
