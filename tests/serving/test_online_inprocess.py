"""A/B split, trending blend and the online-metrics page data, in-process on a real trained champion."""

from __future__ import annotations

import dataclasses
import json

import pytest
from fastapi.testclient import TestClient

from pipelines.ab import variant_for
from serving.api import create_app
from serving.recent_clicks import RecentClicks
from serving.runtime import ServingRuntime

pytestmark = pytest.mark.slow  # the session champion is trained once


@pytest.fixture()
def runtime(trained, champion) -> ServingRuntime:
    rt = ServingRuntime(settings=trained.model_copy(update={"ab_challenger_fraction": 0.3}),
                        recent=RecentClicks(3600, 1000, 100))  # fmt: skip
    rt.holder.swap(champion)
    return rt


def client_for(runtime) -> TestClient:
    app = create_app()
    app.state.runtime = runtime
    return TestClient(app, raise_server_exceptions=False)


def test_ab_split_serves_the_challenger_to_a_stable_share_only_when_it_is_distinct(runtime, champion):
    client = client_for(runtime)
    users = [int(u) for u in champion.recommender.maps.user_ids[:150]]
    only_champion = {client.get(f"/recommendations/{u}?k=3").json()["variant"] for u in users}
    assert only_champion == {"champion"}  # no distinct challenger yet: the split is off
    runtime.challenger.swap(
        dataclasses.replace(champion, version="99")
    )  # the same model under another version
    answers = {u: client.get(f"/recommendations/{u}?k=3").json() for u in users}
    for u, body in answers.items():
        assert body["variant"] == variant_for(u, 0.3)
        assert body["model"]["version"] == ("99" if body["variant"] == "challenger" else champion.version)
    share = sum(b["variant"] == "challenger" for b in answers.values()) / len(users)
    assert 0.15 < share < 0.45, share
    again = {u: client.get(f"/recommendations/{u}?k=3").json()["variant"] for u in users}
    assert again == {u: b["variant"] for u, b in answers.items()}  # stable per user
    assert client.get("/recommendations?k=3").json()["variant"] == "champion"  # anonymous visitors
    ids = {b["request_id"] for b in answers.values()}
    assert len(ids) == len(users)  # one request_id per answer
    status = client.get("/online/status").json()["ab"]
    assert status["active"] and status["challenger_version"] == "99"


def test_trending_lifts_a_hot_movie_into_cold_start_and_is_served(runtime, champion):
    client = client_for(runtime)
    before = [m["movie_id"] for m in client.get("/recommendations?k=10").json()["items"]]
    cold = champion.recommender.cold_start(500)
    hot = cold[300][0]  # far down the damped-popularity list
    assert hot not in before
    runtime.trending.apply(
        json.dumps({"movie_id": hot, "clicks": 40, "likes": 10, "window_end": 1000}).encode()
    )
    runtime.trending.apply(
        json.dumps({"movie_id": before[0], "clicks": 1, "likes": 0, "window_end": 1000}).encode()
    )
    after = [m["movie_id"] for m in client.get("/recommendations?k=10").json()["items"]]
    assert hot in after and after[0] == before[0]  # lifted into the list; the classic at the top stays
    trending = client.get("/trending?k=5").json()
    assert [m["movie_id"] for m in trending["items"]] == [hot, before[0]] and trending["window_end"] == 1000
    assert trending["items"][0]["title"] == champion.recommender.movies[hot].title
    known = int(champion.recommender.maps.user_ids[0])
    assert client.get(f"/recommendations/{known}").json()["strategy"] == "personalized"  # untouched


def test_online_metrics_endpoint_reads_the_landed_windows(runtime, tmp_path):
    settings = runtime.settings.model_copy(update={"online_metrics_dir": tmp_path / "online"})
    runtime.settings = settings
    part = tmp_path / "online" / "dt=2026-12-01"
    part.mkdir(parents=True)
    now_ms = __import__("time").time() * 1000
    rows = []
    for n, (variant, version, impressions, clicks) in enumerate(
        [("champion", "1", 100, 10), ("challenger", "2", 100, 20), ("champion", "1", 50, 5)]
    ):
        start = int(now_ms) - 600_000 + (n // 2) * 60_000
        rows.append({"window_start": start, "window_end": start + 60_000, "model_name": "m", "model_version": version,
                     "variant": variant, "strategy": "personalized", "impressions": impressions, "clicks": clicks,
                     "clicks_at_10": clicks, "ctr_at_10": clicks / impressions, "mean_clicked_position": 3.0})  # fmt: skip
    (part / "part-0-0").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    body = client_for(runtime).get("/online/metrics?hours=1").json()
    assert (
        body["totals"]["champion"]["impressions"] == 150
        and body["totals"]["challenger"]["clicks_at_10"] == 20
    )
    assert (
        set(body["series"]) == {"v1 (champion)", "v2 (challenger)"}
        and len(body["series"]["v1 (champion)"]) == 2
    )
    assert body["test"]["diff"] == pytest.approx(0.2 - 0.1) and body["test"]["p_value"] < 0.05
    page = client_for(runtime).get("/ui/metrics")
    assert page.status_code == 200 and "ctr-chart" in page.text
