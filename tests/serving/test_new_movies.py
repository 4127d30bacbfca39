"""New movies without a retrain, over real HTTP: a content-aware champion (content_mf) behind two `bentoml serve`
replicas and the real broker. A movie added on one replica is placed by its genres and year at once, reaches the
users whose history matches it, and the other replica follows within a poll."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from infra.processes import free_port
from pipelines.settings import Settings
from serving.api import create_app
from serving.catalog import CatalogSync
from serving.runtime import ServingRuntime
from tests.browser import chromium_page
from tests.helpers import SCREENSHOTS_DIR, small_settings, wait_until
from tests.plugins.serving import serving_process, start_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GALAXY = {"movie_id": 990_001, "title": "Galaxy Patrol", "genres": ["Sci-Fi", "Action"], "year": 1999}
LOVE = {"movie_id": 990_002, "title": "Letters in Spring", "genres": ["Romance", "Drama"], "year": 1996}


@pytest.fixture(scope="module")
def content_settings(tmp_path_factory, broker) -> Settings:
    """A content_mf champion trained on the committed slice (own var dir and registry; the session's broker)."""
    from pipelines.pipeline import run_all

    cfg = small_settings(tmp_path_factory.mktemp("content") / "var", kafka_bootstrap=broker, model_type="content_mf",
                         epochs=10, embedding_dim=32, model_poll_interval_s=1.0)  # fmt: skip
    assert run_all(cfg, run_id="content-v1")["promote"]["promoted"]
    return cfg


@pytest.fixture(scope="module")
def content_champion(content_settings):
    from pipelines.registry import load_champion

    return load_champion(content_settings)


@pytest.fixture(scope="module")
def replicas(content_settings):
    procs = [serving_process(content_settings, f"content-{n}", free_port()) for n in ("a", "b")]
    start_all(procs)
    yield [httpx.Client(base_url=f"http://127.0.0.1:{p.cmd[-1]}", timeout=30) for p in procs]
    for p in procs:
        p.stop()


def fans(champion, genre: str, n: int = 10) -> list[int]:
    """The n users whose training history has the largest share of `genre`."""
    rec = champion.recommender
    share = {
        int(u): np.mean([genre in rec.movies[m].genres for m in rec.seen(int(u))]) for u in rec.maps.user_ids
    }
    return sorted(share, key=lambda u: -share[u])[:n]


def rank_in(client: httpx.Client, user: int, movie_id: int, k: int = 100) -> int | None:
    resp = client.get(f"/recommendations/{user}", params={"k": k})
    assert resp.status_code == 200, resp.text
    ids = [m["movie_id"] for m in resp.json()["items"]]
    return ids.index(movie_id) if movie_id in ids else None


def test_added_movies_reach_matching_users_at_once_and_the_other_replica_follows(replicas, content_champion):
    a, b = replicas
    size = a.get("/model").json()["catalog_size"]
    for movie in (GALAXY, LOVE):
        resp = a.post("/catalog/movies", json=movie)
        assert resp.status_code == 201, resp.text
        assert resp.json()["recommendable_now"] is True
    assert a.get("/model").json()["catalog_size"] == size + 2
    scifi, romance = fans(content_champion, "Sci-Fi"), fans(content_champion, "Romance")
    # the list itself: the sci-fi movie reaches sci-fi fans' top 100, and sits higher for them than for romance fans
    galaxy_ranks = [rank_in(a, u, GALAXY["movie_id"]) for u in scifi]
    assert sum(r is not None for r in galaxy_ranks) >= len(scifi) // 2, galaxy_ranks
    placed = lambda ranks: np.mean([100 if r is None else r for r in ranks])  # noqa: E731
    assert placed(galaxy_ranks) < placed([rank_in(a, u, GALAXY["movie_id"]) for u in romance])
    # "new this week": each fan group gets its own genre first
    first = lambda client, u: client.get("/catalog/new", params={"user_id": u}).json()["items"][0]["movie_id"]  # noqa: E731
    assert sum(first(a, u) == GALAXY["movie_id"] for u in scifi) >= 8
    assert sum(first(a, u) == LOVE["movie_id"] for u in romance) >= 8
    # replica b read the additions file on its next poll, without a retrain or a restart
    wait_until(lambda: len(b.get("/catalog/new").json()["items"]) == 2, timeout=10)
    assert b.get("/model").json()["catalog_size"] == size + 2


def test_bad_movie_records_get_4xx_and_change_nothing(replicas):
    a, _ = replicas
    size = a.get("/model").json()["catalog_size"]
    cases = [
        ({**GALAXY, "movie_id": 990_010, "genres": ["Space Opera"]}, 422, "unknown genres"),
        ({k: v for k, v in GALAXY.items() if k != "year"} | {"movie_id": 990_011}, 422, "year"),
        ({**GALAXY, "movie_id": 990_012, "year": "nineteen"}, 422, "year"),
        ({**GALAXY, "movie_id": 990_013, "genres": []}, 422, "genres"),
        ({**GALAXY, "movie_id": 1}, 409, "already in the catalog"),  # a dataset movie
        (GALAXY, 409, "already in the catalog"),  # added by the test above
        ({**GALAXY, "movie_id": 990_014, "extra": 1}, 422, "extra"),
    ]
    for body, status, message in cases:
        resp = a.post("/catalog/movies", json=body)
        assert resp.status_code == status and message in resp.text, (body, resp.status_code, resp.text)
    assert (
        a.post(
            "/catalog/movies", content=b"{not json", headers={"Content-Type": "application/json"}
        ).status_code
        == 422
    )
    assert a.get("/model").json()["catalog_size"] == size


def test_page_shows_new_this_week_for_the_user(replicas, content_champion):
    a, _ = replicas
    user = fans(content_champion, "Sci-Fi")[0]
    with chromium_page() as page:
        page.goto(f"{str(a.base_url).rstrip('/')}/ui/")
        page.fill("#user-id", str(user))
        page.click("#go")
        page.wait_for_selector("#new-section:not([hidden]) #new-recs li")
        shown = page.locator("#new-recs li").evaluate_all("els => els.map(e => Number(e.dataset.movieId))")
        assert shown[0] == GALAXY["movie_id"] and set(shown) == {GALAXY["movie_id"], LOVE["movie_id"]}
        page.screenshot(path=str(SCREENSHOTS_DIR / "serving-page-new-movies.png"), full_page=True)


def test_admin_token_guards_adding_movies(content_settings, content_champion, tmp_path):
    settings = Settings(**{**content_settings.model_dump(), "admin_token": "s3cret", "var_dir": tmp_path})
    runtime = ServingRuntime(settings=settings, catalog=CatalogSync(settings))
    runtime.holder.swap(content_champion)
    app = create_app()
    app.state.runtime = runtime
    client = TestClient(app, raise_server_exceptions=False)
    body = {**GALAXY, "movie_id": 990_020}
    assert client.post("/catalog/movies", json=body).status_code == 401
    assert (
        client.post("/catalog/movies", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    ok = client.post("/catalog/movies", json=body, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 201 and (tmp_path / "catalog" / "added_movies.jsonl").exists()
