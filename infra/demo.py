"""`make demo`: drive the closed loop on a running stack and print each step's evidence.

recommend -> like the top movie (it disappears at once) -> more clicks -> Flink lands them -> retrain DAG
over the Airflow REST API -> MLflow decision -> the service hot-swaps to the new champion (if promoted).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field

import httpx

from infra.airflow import password_file
from infra.trigger_dag import AirflowClient, wait_for_run
from pipelines.settings import Settings


@dataclass
class DemoResult:
    user_id: int
    liked_movie: int
    disappeared: bool
    event_ids: list[str] = field(default_factory=list)
    landed: int = 0
    dag_run_id: str = ""
    dag_state: str = ""
    decision: dict | None = None
    served_version_before: str = ""
    served_version_after: str = ""


def say(message: str) -> None:
    print(f"--> {message}", flush=True)


def service(settings: Settings) -> httpx.Client:
    return httpx.Client(base_url=f"http://{settings.serving_host}:{settings.serving_port}", timeout=30)


def like_and_check(api: httpx.Client, user_id: int) -> tuple[int, bool, str]:
    """Like the user's top movie; True when it is gone from the very next list."""
    before = api.get(f"/recommendations/{user_id}", params={"k": 10}).raise_for_status().json()
    top = before["items"][0]["movie_id"]
    say(f"user {user_id} top-3 from model v{before['model']['version']}: "
        + ", ".join(item["title"] for item in before["items"][:3]))  # fmt: skip
    click = (
        api.post("/click", json={"user_id": user_id, "movie_id": top, "event": "like"})
        .raise_for_status()
        .json()
    )
    after = api.get(f"/recommendations/{user_id}", params={"k": 10}).raise_for_status().json()
    gone = top not in {item["movie_id"] for item in after["items"]}
    say(
        f"liked movie {top} (event {click['event_id']}): {'gone from the next list' if gone else 'STILL LISTED'}"
    )
    return top, gone, click["event_id"]


def post_clicks(
    api: httpx.Client, user_ids: list[int], movie_ids: list[int], count: int, seed: int = 7
) -> list[str]:
    rng = random.Random(seed)
    events = [{"user_id": rng.choice(user_ids), "movie_id": rng.choice(movie_ids), "event": rng.choice(["click", "like", "watch"])}
              for _ in range(count)]  # fmt: skip
    resp = api.post("/clicks", json={"events": events}).raise_for_status().json()
    ids = [str(event_id) for event_id in resp["event_ids"]]
    say(f"posted {count} more clicks, {len(ids)} acknowledged by the broker")
    return ids


def wait_landed(settings: Settings, event_ids: list[str], timeout: float) -> int:
    """How many of event_ids the Flink job has landed (waits up to timeout for all of them)."""
    from pipelines.feedback import read_landed_feedback

    wanted, deadline, landed = set(event_ids), time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        frame = read_landed_feedback(settings, None)[0]
        landed = len(wanted & set(frame.event_id.astype(str)))
        if landed == len(wanted):
            break
        time.sleep(2)
    say(f"Flink landed {landed}/{len(wanted)} of the demo's clicks in {settings.feedback_dir}")
    return landed


def retrain(settings: Settings, conf: dict, timeout: float) -> tuple[str, str, dict | None]:
    password = json.loads(password_file(settings.airflow_home).read_text())["admin"]
    client = AirflowClient(f"http://127.0.0.1:{settings.airflow_port}", "admin", password)
    client.unpause("movielens_retrain")
    run_id = client.trigger("movielens_retrain", conf)
    say(f"triggered movielens_retrain over REST: {run_id} (conf {conf})")
    state = wait_for_run(client, "movielens_retrain", run_id, timeout)
    decision = client.xcom("movielens_retrain", run_id, "promote")
    say(f"DAG run {state}; promotion decision: {json.dumps(decision, default=str)}")
    return run_id, state, decision


def wait_served_version(api: httpx.Client, version: str, timeout: float) -> str:
    deadline, served = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        served = str(api.get("/model").json().get("version"))
        if served == version:
            break
        time.sleep(1)
    say(f"service now serves version {served}")
    return served


def run_demo(settings: Settings, user_id: int = 1, clicks: int = 50, conf: dict | None = None,
             dag_timeout: float = 1800) -> DemoResult:  # fmt: skip
    with service(settings) as api:
        model = api.get("/model").raise_for_status().json()
        liked, gone, first_event = like_and_check(api, user_id)
        catalog = [
            item["movie_id"]
            for item in api.get(f"/recommendations/{user_id + 1}", params={"k": 30}).json()["items"]
        ]
        event_ids = [first_event, *post_clicks(api, [user_id, user_id + 1, user_id + 2], catalog, clicks)]
        result = DemoResult(user_id, liked, gone, event_ids, served_version_before=str(model["version"]))
        result.landed = wait_landed(settings, event_ids, timeout=120)
        result.dag_run_id, result.dag_state, result.decision = retrain(settings, conf or {}, dag_timeout)
        if result.decision and result.decision.get("promoted"):
            target = str(result.decision["challenger_version"])
            result.served_version_after = wait_served_version(
                api, target, settings.model_poll_interval_s * 2 + 30
            )
        else:
            result.served_version_after = str(api.get("/model").json()["version"])
            say(f"not promoted: the service keeps version {result.served_version_after}")
    return result
