"""End to end over real HTTP: tansu broker + trained champion + two `bentoml serve` replicas (subprocesses).

Order matters inside this module: the hot-swap test promotes version 2, the last test stops the broker.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from infra.processes import free_port
from tests.browser import chromium_page
from tests.helpers import SCREENSHOTS_DIR, read_topic, wait_until
from tests.plugins.serving import serving_process, start_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCREENSHOT = SCREENSHOTS_DIR / "serving-page.png"


@pytest.fixture(scope="module")
def replicas(trained, broker):
    """Two replicas of the service on free ports, sharing the registry and the broker."""
    procs = [serving_process(trained, f"serving-{name}", free_port()) for name in ("a", "b")]
    start_all(procs)
    urls = [p.cmd[-1] for p in procs]
    yield [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) for port in urls], procs
    for p in procs:
        p.stop()


@pytest.fixture(scope="module")
def a(replicas) -> httpx.Client:
    return replicas[0][0]


@pytest.fixture(scope="module")
def b(replicas) -> httpx.Client:
    return replicas[0][1]


def known_user(champion) -> int:
    return int(champion.recommender.maps.user_ids[1])


def ids(resp: httpx.Response) -> list[int]:
    assert resp.status_code == 200, resp.text
    return [m["movie_id"] for m in resp.json()["items"]]


def test_health_ready_model_metrics(a, champion):
    assert a.get("/healthz").status_code == 200
    assert a.get("/readyz").status_code == 200
    model = a.get("/model").json()
    assert (model["name"], model["version"], model["alias"]) == (
        champion.model_name,
        champion.version,
        "champion",
    )
    assert model["metrics"]["ndcg_at_10"] >= 0
    metrics = a.get("/metrics")
    assert metrics.status_code == 200 and "bentoml_" in metrics.text


def test_recommendation_metrics_have_one_series_per_route_not_per_user(a, champion):
    """BentoML labels by raw path (a series per user id, unbounded memory); the hot paths get their template."""
    from prometheus_client.parser import text_string_to_metric_families

    users = [int(u) for u in champion.recommender.maps.user_ids[:3]]
    for user in users:
        assert a.get(f"/recommendations/{user}").status_code == 200
    assert a.get("/recommendations/0").status_code == 422
    samples = [s for family in text_string_to_metric_families(a.get("/metrics").text) for s in family.samples]
    counts = {s.labels["http_response_code"]: s.value for s in samples
              if s.name == "bentoml_service_request_total" and s.labels.get("endpoint") == "/recommendations/{user_id}"}  # fmt: skip
    assert counts["200"] >= len(users) and counts["422"] >= 1
    assert not [s for s in samples if s.labels.get("endpoint", "").startswith("/recommendations/") and
                s.labels["endpoint"] != "/recommendations/{user_id}"]  # fmt: skip


def test_recommendations_exclude_training_history(a, champion):
    user = known_user(champion)
    resp = a.get(f"/recommendations/{user}", params={"k": 100})
    body = resp.json()
    assert body["strategy"] == "personalized" and body["model"]["version"] == champion.version
    assert len(body["items"]) == 100
    assert not champion.recommender.seen(user) & set(ids(resp))
    first = body["items"][0]
    assert first["title"] == champion.recommender.movies[first["movie_id"]].title


def test_fresh_click_is_excluded_here_at_once_and_on_the_other_replica_within_2s(a, b, champion, trained):
    user = known_user(champion)
    top = ids(a.get(f"/recommendations/{user}", params={"k": 10}))[0]
    assert top in ids(b.get(f"/recommendations/{user}", params={"k": 10}))
    resp = a.post("/click", json={"user_id": user, "movie_id": top, "event": "like"})
    acked_at = time.monotonic()
    assert resp.status_code == 202, resp.text
    event_id = resp.json()["event_id"]
    assert top not in ids(a.get(f"/recommendations/{user}", params={"k": 10}))
    wait_until(lambda: top not in ids(b.get(f"/recommendations/{user}", params={"k": 10})), 2.0,
               interval=0.05, what="replica b to exclude the click")  # fmt: skip
    assert time.monotonic() - acked_at <= 2.0
    records = read_topic(
        trained.kafka_bootstrap, trained.clicks_topic, trained.clicks_partitions, want=10**6, timeout=3
    )
    mine = [r for r in records if json.loads(r.value())["event_id"] == event_id]
    assert len(mine) == 1 and mine[0].key() == str(user).encode()
    assert json.loads(mine[0].value())["movie_id"] == top


def test_legacy_api(a, b, champion):
    movie = next(iter(champion.recommender.movies))
    resp = a.post("/click", json={"userId": 1, "movieId": movie, "timestamp": 1694582374})
    assert resp.status_code == 202 and resp.json()["ts"] == 1694582374000
    anon = a.get("/predict/anonymous").json()
    assert (
        anon["user_id"] == "anonymous"
        and anon["strategy"] == "cold_start"
        and len(anon["recommendations"]) == 10
    )
    user = known_user(champion)
    assert a.get(f"/predict/{user}").json()["strategy"] == "personalized"
    debug = a.get("/debug").json()
    assert debug["status"] == "ok" and "GET /predict/{user_id}" in debug["endpoints"] and debug["example"]
    # the other replica learnt the legacy click from the topic too
    wait_until(
        lambda: b.get("/debug").json()["recent_clicks"]["follower"]["consumed"] >= 2, 3, what="b follows"
    )


def test_batch_clicks_and_post_recommend(a, champion):
    movies = list(champion.recommender.movies)[:3]
    resp = a.post(
        "/clicks", json={"events": [{"user_id": 4242, "movie_id": m, "event": "watch"} for m in movies]}
    )
    assert resp.status_code == 202 and resp.json()["count"] == 3
    out = a.post("/recommend", json={"user_id": 4242, "k": 50})
    # an unknown user with fresh clicks: the POST form takes the same path, folding the clicks in
    assert out.status_code == 200 and out.json()["strategy"] == "personalized_from_clicks", out.json()
    assert out.json()["folded_clicks"] == 3
    assert not set(movies) & {m["movie_id"] for m in out.json()["items"]}
    genres = a.get("/recommendations/4242", params={"genres": "Comedy,Drama", "k": 10}).json()
    assert all({"Comedy", "Drama"} & set(m["genres"]) for m in genres["items"])


def test_client_event_id_is_kept_so_a_retry_is_the_same_event(a, champion, trained):
    """A client resending after a 503 reuses its event_id: both copies carry it, the landing job keeps one."""
    import uuid

    movie = list(champion.recommender.movies)[5]
    key = str(uuid.uuid4())
    body = {"event_id": key, "user_id": 4343, "movie_id": movie, "event": "click"}
    first, retry = a.post("/click", json=body), a.post("/click", json=body)
    assert first.status_code == retry.status_code == 202, first.text + retry.text
    assert first.json()["event_id"] == retry.json()["event_id"] == key
    batch = a.post("/clicks", json={"events": [body]})
    assert batch.status_code == 202 and batch.json()["event_ids"] == [key]
    records = read_topic(
        trained.kafka_bootstrap, trained.clicks_topic, trained.clicks_partitions, want=10**6, timeout=3
    )
    copies = [json.loads(r.value()) for r in records if json.loads(r.value())["event_id"] == key]
    assert len(copies) == 3 and {c["movie_id"] for c in copies} == {movie}


def test_each_answer_publishes_its_impression_and_clicks_carry_its_request_id(a, champion, trained):
    """The impression (request id, user, model version, arm, strategy, items) reaches the impressions topic; a
    click sent back with that request_id travels with it; anonymous answers publish nothing."""
    user = known_user(champion)
    body = a.get(f"/recommendations/{user}", params={"k": 5}).json()
    anonymous = a.get("/recommendations", params={"k": 5}).json()
    shown = [m["movie_id"] for m in body["items"]]
    click = {"user_id": user, "movie_id": shown[2], "event": "click", "request_id": body["request_id"]}
    assert a.post("/click", json=click).status_code == 202
    impressions = [json.loads(r.value()) for r in read_topic(trained.kafka_bootstrap, trained.impressions_topic,
                                                            trained.impressions_partitions, want=10**6, timeout=3)]  # fmt: skip
    mine = [i for i in impressions if i["request_id"] == body["request_id"]]
    assert len(mine) == 1, impressions[-3:]
    assert mine[0]["items"] == shown and mine[0]["user_id"] == user and mine[0]["variant"] == body["variant"]
    assert mine[0]["model_version"] == body["model"]["version"] and mine[0]["strategy"] == body["strategy"]
    assert not [i for i in impressions if i["request_id"] == anonymous["request_id"]]
    clicks = read_topic(
        trained.kafka_bootstrap, trained.clicks_topic, trained.clicks_partitions, want=10**6, timeout=3
    )
    assert [json.loads(r.value())["request_id"] for r in clicks if json.loads(r.value()).get("request_id")
            == body["request_id"]] == [body["request_id"]]  # fmt: skip
    status = a.get("/online/status").json()["impressions"]
    assert status["published"] >= 1 and status["dropped_broker"] == 0


BAD = [
    ("GET", "/recommendations/abc", None, None),
    ("GET", "/recommendations/-1", None, None),
    ("GET", "/recommendations/1?k=0", None, None),
    ("GET", "/recommendations/1?k=101", None, None),
    ("GET", "/predict/1.5", None, None),
    ("POST", "/click", b'{"user_id": 1, "movie_id":', "application/json"),
    ("POST", "/click", b'{"user_id": 1, "movie_id": 1}', "text/plain"),
    ("POST", "/click", b'{"user_id": 1, "movie_id": 999999999}', "application/json"),
    ("POST", "/click", b'{"user_id": -5, "movie_id": 1}', "application/json"),
    ("POST", "/click", b'{"user_id": 1, "movie_id": 1, "event_id": "not-a-uuid"}', "application/json"),
    ("POST", "/click", b'{"userId": "x", "movieId": 1}', "application/json"),
    (
        "POST",
        "/click",
        b'{"user_id": 1, "movie_id": 1, "pad": "' + b"x" * 100_000 + b'"}',
        "application/json",
    ),
    ("POST", "/clicks", b'{"events": "nope"}', "application/json"),
    ("POST", "/recommend", b'{"user_id": 1, "k": 1000}', "application/json"),
    ("POST", "/recommend", b'{"user_id": "abc"}', "application/json"),
    ("POST", "/recommend", b"{not json", "application/json"),
]


def test_bad_inputs_get_4xx_and_the_service_keeps_serving(a):
    for method, url, body, ctype in BAD:
        headers = {"content-type": ctype} if ctype else {}
        resp = a.request(method, url, content=body, headers=headers)
        assert 400 <= resp.status_code < 500, f"{method} {url}: {resp.status_code} {resp.text[:200]}"
        assert "error" in resp.text, resp.text
    assert a.get("/healthz").status_code == 200


def run_schemathesis(base: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{base}/docs.json", "--max-examples", "40",
           "--seed", "7", "--no-color", "--generation-database", "none", "--phases", "examples,coverage,fuzzing",
           "--request-timeout", "10", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=out)


def test_schemathesis_fuzz_finds_no_server_errors(a, tmp_path):
    base = str(a.base_url).rstrip("/")
    strict = run_schemathesis(
        base, tmp_path, "--exclude-path", "/recommend",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
    )  # fmt: skip
    assert strict.returncode == 0, strict.stdout[-6000:]
    # BentoML's own /recommend: its generated 400 schema does not match BentoML's own error body; only ask for no 5xx
    native = run_schemathesis(
        base, tmp_path, "--include-path", "/recommend", "--checks", "not_a_server_error"
    )
    assert native.returncode == 0, native.stdout[-6000:]
    assert a.get("/healthz").status_code == 200


def test_web_page_like_removes_the_movie(a, champion):
    user = known_user(champion)
    with chromium_page() as page:
        page.goto(f"{str(a.base_url).rstrip('/')}/ui/")
        page.fill("#user-id", str(user))
        page.click("#go")
        page.wait_for_function("document.querySelectorAll('#recs li').length === 10")
        page.wait_for_function(f"document.querySelector('#strategy').textContent.includes('User {user}')")
        assert f"v{champion.version}" in page.text_content("#model-badge")
        assert "personalized" in page.text_content("#strategy")
        first = page.locator("#recs li").first
        movie_id = first.get_attribute("data-movie-id")
        title = first.locator(".title").text_content()
        assert title == champion.recommender.movies[int(movie_id)].title
        first.locator("button[data-event=like]").click()
        page.wait_for_function("document.querySelector('#status').textContent.includes('liked')")
        page.wait_for_function("document.querySelectorAll('#recs li').length === 10")
        assert page.locator(f'#recs li[data-movie-id="{movie_id}"]').count() == 0
        # new user + favourite genres: cold start in those genres
        page.check("input[name=mode][value=new]")
        page.check("input[name=genre][value=Comedy]")
        page.click("#go")
        page.wait_for_function("document.querySelector('#strategy').textContent.includes('Comedy')")
        page.wait_for_function("document.querySelectorAll('#recs li').length === 10")
        assert all("Comedy" in t for t in page.locator("#recs .meta").all_text_contents())
        page.check("input[name=mode][value=known]")
        page.click("#go")
        page.wait_for_function(f"document.querySelector('#strategy').textContent.includes('User {user}')")
        page.wait_for_function("document.querySelectorAll('#recs li').length === 10")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert a.get("/healthz").status_code == 200


SCI_FI_CLASSICS = [260, 1196, 1210, 2571, 1240]  # Star Wars IV, V, VI, The Matrix, The Terminator


def sci_fi_share(items: list[dict]) -> float:
    return sum("Sci-Fi" in m["genres"] for m in items) / max(len(items), 1)


def test_fresh_likes_personalize_a_new_user_on_both_replicas_without_a_retrain(a, b, champion):
    """The issue's new user: five sci-fi likes over HTTP; both replicas fold them in (the other one via the topic)."""
    rec = champion.recommender
    user = 912_345_678  # unknown to the model
    liked = [m for m in SCI_FI_CLASSICS if rec.has_movie(m)]
    before = a.get(f"/recommendations/{user}", params={"k": 10}).json()
    assert before["strategy"] == "cold_start"
    for movie in liked:
        assert a.post("/click", json={"user_id": user, "movie_id": movie, "event": "like"}).status_code == 202
    popular_minus_liked = [
        {"genres": rec.movies[m].genres} for m, _ in rec.cold_start(10, exclude=set(liked))
    ]
    for client in (a, b):
        wait_until(lambda c=client: c.get(f"/recommendations/{user}").json()["folded_clicks"] == len(liked), 5,
                   what="the likes folded in")  # fmt: skip
        after = client.get(f"/recommendations/{user}", params={"k": 10}).json()
        assert after["strategy"] == "personalized_from_clicks"
        assert not set(liked) & {m["movie_id"] for m in after["items"]}
        assert sci_fi_share(after["items"]) > sci_fi_share(popular_minus_liked), after["items"]
    # a like of a movie the model has never heard of is skipped without an error
    assert a.post("/click", json={"user_id": user + 1, "movie_id": 1, "event": "like"}).status_code in (
        202,
        422,
    )


def test_web_page_new_user_likes_change_the_list_and_its_label(a, champion):
    rec = champion.recommender
    with chromium_page() as page:
        page.goto(f"{str(a.base_url).rstrip('/')}/ui/")
        page.check("input[name=mode][value=new]")
        page.click("#go")
        page.wait_for_function("document.querySelectorAll('#recs li').length === 10")
        assert page.get_attribute("#strategy", "data-strategy") == "cold_start"
        liked = []
        for n in range(3):
            first = page.locator("#recs li").first
            liked.append(int(first.get_attribute("data-movie-id")))
            first.locator("button[data-event=like]").click()
            page.wait_for_function(
                f"(document.querySelector('#strategy').textContent.match(/(\\d+) fresh click/) || [0, 0])[1] >= {n + 1}"
            )
        page.wait_for_function("document.querySelectorAll('#recs li').length === 10")
        assert page.get_attribute("#strategy", "data-strategy") == "personalized_from_clicks"
        assert "personalized from your clicks" in page.text_content("#strategy")
        shown = [
            int(x) for x in page.locator("#recs li").evaluate_all("els => els.map(e => e.dataset.movieId)")
        ]
        assert not set(liked) & set(shown)
        assert shown != [
            m for m, _ in rec.cold_start(10, exclude=set(liked))
        ]  # not just popularity minus the likes
        page.screenshot(path=str(SCREENSHOTS_DIR / "serving-page-foldin.png"), full_page=True)


def test_web_page_shows_trending_now_from_the_trending_topic(a, b, champion, trained):
    """Rows as the Flink online job publishes them reach both replicas' /trending and the page's row."""
    from pipelines import kafka_config

    movies = list(champion.recommender.movies)[40:43]
    end = int(time.time() * 1000)
    producer = kafka_config.producer(trained.kafka_bootstrap, log_level=0)  # quiet once the broker stops
    for n, movie in enumerate(movies):
        row = {"movie_id": movie, "clicks": 10 - n, "likes": 3, "window_end": end}
        producer.produce(trained.trending_topic, key=str(movie).encode(), value=json.dumps(row).encode())
    assert producer.flush(10) == 0
    for replica in (a, b):
        wait_until(lambda r=replica: [m["movie_id"] for m in r.get("/trending?k=3").json()["items"]] == movies, 10,
                   what="the replica to follow the trending topic")  # fmt: skip
    with chromium_page() as page:
        page.goto(f"{str(a.base_url).rstrip('/')}/ui/")
        page.wait_for_selector("#trending-section:not([hidden]) #trending-recs li")
        assert "Trending now" in page.text_content("#trending-section")
        shown = page.locator("#trending-recs li").evaluate_all(
            "els => els.map(e => Number(e.dataset.movieId))"
        )
        assert shown == movies
        page.goto(f"{str(a.base_url).rstrip('/')}/ui/metrics")
        page.wait_for_selector("#trending li")
        assert page.locator("#ctr-chart").count() == 1
        page.screenshot(path=str(SCREENSHOTS_DIR / "serving-online-metrics.png"), full_page=True)


def test_hot_swap_on_promotion_drops_no_request(a, b, champion, trained):
    from pipelines.pipeline import run_all

    user = known_user(champion)
    stop, results = threading.Event(), []

    def hammer(client: httpx.Client) -> None:
        while not stop.is_set():
            for url in (f"/recommendations/{user}?k=10", "/predict/anonymous"):
                try:
                    resp = client.get(url)
                    body = resp.json()
                    version = (
                        body.get("model", {}).get("version") if "model" in body else body.get("model_version")
                    )
                    results.append((resp.status_code, version))
                except Exception as exc:  # noqa: BLE001 - counted as a failed request
                    results.append((f"{type(exc).__name__}", None))

    threads = [threading.Thread(target=hammer, args=(c,)) for c in (a, b)]
    for t in threads:
        t.start()
    try:
        result = run_all(trained, run_id="serving-v2", params={"force_promote": True})
        new_version = result["promote"]["challenger_version"]
        assert result["promote"]["promoted"] and new_version != champion.version
        wait_until(lambda: a.get("/model").json()["version"] == new_version
                   and b.get("/model").json()["version"] == new_version, 90, interval=0.5, what="both swapped")  # fmt: skip
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    failed = [r for r in results if r[0] != 200]
    versions = {v for _, v in results}
    assert not failed, failed[:5]
    assert {champion.version, new_version} <= versions, versions
    assert len(results) > 20


def test_broker_down_click_is_503_and_not_ready(a, champion, trained):
    from infra.broker import start_broker, stop_broker

    movie = next(iter(champion.recommender.movies))
    assert stop_broker(trained)
    try:
        started = time.monotonic()
        resp = a.post("/click", json={"user_id": 1, "movie_id": movie})
        assert resp.status_code == 503, resp.text
        assert "not acknowledged" in resp.json()["error"] or "broker" in resp.json()["error"]
        assert time.monotonic() - started < trained.click_ack_timeout_s + 3
        wait_until(lambda: a.get("/readyz").status_code == 503, 10, what="readyz to report the broker")
        assert "broker" in a.get("/readyz").text
        for _ in range(5):  # reads still work, fast: the impressions wait in the publisher's queue
            t0 = time.monotonic()
            assert a.get(f"/recommendations/{known_user(champion)}").status_code == 200
            assert time.monotonic() - t0 < 1.0
        # impressions the broker never took are dropped after the producer's timeout, and counted
        wait_until(lambda: a.get("/online/status").json()["impressions"]["dropped_broker"] >= 5, 30,
                   what="impressions dropped during the outage to be counted")  # fmt: skip
        assert "movierec_impressions_dropped" in a.get("/metrics").text
    finally:
        start_broker(trained)
