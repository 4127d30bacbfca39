"""The online demo's driver against a fake service (httpx.MockTransport: the HTTP boundary), its landed-count
reader on hand-written window rows, and `make status` listing the online job."""

import json
import uuid

import httpx
import pandas as pd

from infra.demo_landing import landed_counts
from infra.demo_traffic import Traffic, drive
from infra.stack import status
from pipelines.ab import variant_for
from pipelines.population import Population


def fake_service(posted: list[dict]) -> httpx.Client:
    """Every user gets movies 1..10 from version 7 in the arm variant_for(user, 0.5) says (user 5: a wrong arm)."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posted.extend(json.loads(request.content)["events"])
            return httpx.Response(202, json={"count": 1, "event_ids": []})
        user = int(request.url.path.rsplit("/", 1)[1])
        arm = variant_for(user, 0.5) if user != 5 else "champion"
        items = [{"movie_id": m} for m in range(1, 11)]
        body = {"request_id": str(uuid.uuid4()), "variant": arm, "model": {"version": "7"}, "items": items}
        return httpx.Response(200, json=body)

    return httpx.Client(transport=httpx.MockTransport(handle), base_url="http://svc")


def test_drive_counts_answers_per_version_and_arm_and_posts_clicks_with_the_request_id():
    users = [u for u in range(6, 60) if variant_for(u, 0.5) == "challenger"][:3] + [5]
    assert variant_for(5, 0.5) == "challenger"  # the fake serves user 5 in the wrong arm
    population = Population(pd.DataFrame(), {u: frozenset({1, 2, 3}) for u in users})
    posted: list[dict] = []
    traffic = drive(fake_service(posted), population, users * 50, 0.5, seed=1)
    assert traffic.wrong_arm == 50
    assert traffic.impressions == {("7", "challenger"): 150, ("7", "champion"): 50}
    assert (
        sum(traffic.clicks.values()) == len(posted) == len(traffic.clicked) > 100
    )  # liked at the top: clicked
    assert {e["event"] for e in posted} == {"click"} and all(uuid.UUID(e["request_id"]) for e in posted)
    assert (
        traffic.expected_clicks[("7", "champion")] > 50 * 0.6
    )  # the first liked movie alone: 0.6 per answer


def test_landed_counts_sum_the_runs_windows_of_its_versions_only(settings):
    traffic = Traffic(started_ms=1_800_000_030_000)
    traffic.impressions.update({("7", "challenger"): 5, ("6", "champion"): 5})
    part = settings.online_metrics_dir / "dt=2027-01-15"
    part.mkdir(parents=True)
    rows = [(1_800_000_000_000, "7", "challenger", 3, 2),  # the run's first window (started inside it)
            (1_800_000_060_000, "7", "challenger", 2, 1), (1_800_000_060_000, "6", "champion", 5, 0),
            (1_800_000_060_000, "6", "challenger", 9, 9),  # a version/arm the run did not serve
            (1_799_999_940_000, "7", "challenger", 8, 8)]  # before the run  # fmt: skip
    lines = [json.dumps({"window_start": start, "window_end": start + 60_000, "model_name": "m", "model_version": v,
                         "variant": arm, "strategy": "personalized", "impressions": n, "clicks": c,
                         "clicks_at_10": c, "ctr_at_10": c / n, "mean_clicked_position": 1.0})
             for start, v, arm, n, c in rows]  # fmt: skip
    (part / "part-0-0").write_text("\n".join(lines) + "\n")
    impressions, clicks = landed_counts(settings, traffic)
    assert impressions == {("7", "challenger"): 5, ("6", "champion"): 5}
    assert clicks == {("7", "challenger"): 3, ("6", "champion"): 0}


def test_status_lists_the_online_job(settings, capsys):
    status(settings)
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("flink-online") and "stopped" in line for line in lines), lines
