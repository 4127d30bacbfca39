"""The cheap request path gives the same answers as the plain one: JSON bytes built from cached per-movie prefixes
equal the pydantic model's serialization, and the scalar id lookups equal IdMaps'. No trained model needed."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from pipelines.features import IdMaps
from pipelines.scoring import Movie, Recommender
from serving.recent_clicks import RecentClicks
from serving.recommendations import NoChampion, UnknownGenres, recommendations_for, recommendations_json
from tests.helpers import same_but_request_id

MOVIES = {
    1: Movie(1, "Toy Story (1995)", ["Adventure", "Animation", "Children"], 1995),
    2: Movie(2, 'Léon: "The Professional" (a.k.a. Léon) \\ 1994', ["Action", "Crime"], 1994),
    3: Movie(3, "千と千尋の神隠し (2001)", ["Animation", "Fantasy"], 2001),
    4: Movie(4, "No year, no genres\tand a tab", [], None),
    5: Movie(5, "Emoji 🎬 </script>", ["(no genres listed)"], 2020),
    6: Movie(6, "Comedy (2000)", ["Comedy"], 2000),
}
# scores whose JSON form differs between formatters (exponents, many digits, negatives, zero)
SCORES = [0.912345678, 1.2e-05, -3.5e-06, 12345.678901234, 0.0, -0.1]


class FakeRecommender:
    """What build_recommendations uses of a Recommender, with fixed answers."""

    def __init__(self, movies=MOVIES):
        self.movies = movies
        self.genres = sorted({g for m in movies.values() for g in m.genres if g != "(no genres listed)"})

    def known_user(self, user_id):
        return user_id in (7, 8)

    def seen(self, user_id):
        return {6}

    def top_k(self, user_id, k=10, exclude=()):
        return [(m, s) for m, s in zip(MOVIES, SCORES, strict=False) if m not in exclude][:k]

    def top_k_from_clicks(self, events, k=10, user_id=None):
        pairs = [(m, s * 2) for m, s in zip(reversed(MOVIES), SCORES, strict=False)]
        return [p for p in pairs if p[0] not in {m for m, _ in events}][:k], len(events)

    def cold_start(self, k=10, genres=None, exclude=(), boosts=None):
        wanted = {g.lower() for g in genres or ()}
        out = [
            (m, 1.0 / m)
            for m, movie in MOVIES.items()
            if m not in exclude and (not wanted or wanted & {g.lower() for g in movie.genres})
        ]
        return out[:k]


def runtime_with(recommender, version="3") -> SimpleNamespace:
    champion = None
    if recommender is not None:
        champion = SimpleNamespace(
            model_name="movielens-recommender", version=version, recommender=recommender
        )
    recent = RecentClicks(window_s=3600, max_users=10, per_user=10)
    return SimpleNamespace(holder=SimpleNamespace(current=champion), recent=recent,
                           model_for=lambda user_id: (champion, "champion"), settings=SimpleNamespace(trending_weight=0.5))  # fmt: skip


@pytest.mark.parametrize(
    ("user_id", "k", "genres", "clicks"),
    [
        (7, 10, None, []),  # personalized
        (7, 2, None, []),
        (7, 10, None, [(2, "like"), (3, "click")]),  # personalized, fresh clicks folded in
        (8, 10, ["comedy,Animation"], []),  # known user asking by genre: cold start without seen movies
        (99, 10, None, [(1, "watch")]),  # unknown user with clicks
        (99, 10, None, []),  # unknown user: cold start
        (None, 100, None, []),  # anonymous
        (None, 3, ["Fantasy", "crime"], []),
        (None, 10, [" , "], []),  # empty genre list = no filter
    ],
)
def test_json_bytes_equal_the_models_serialization(user_id, k, genres, clicks):
    runtime = runtime_with(FakeRecommender())
    for movie, event in clicks:
        runtime.recent.add(user_id, movie, runtime.recent._clock_ms(), event)
    expected = recommendations_for(runtime, user_id, k, genres).model_dump_json().encode()
    assert same_but_request_id(recommendations_json(runtime, user_id, k, genres), expected)
    assert same_but_request_id(recommendations_json(runtime, user_id, k, genres), expected)  # prefix cache


def test_prefix_cache_is_per_model():
    """A new champion with other titles for the same ids never serves the old model's cached items."""
    first, second = (
        FakeRecommender(),
        FakeRecommender({m: Movie(m, f"renamed {m}", [], None) for m in MOVIES}),
    )
    old = recommendations_json(runtime_with(first, "1"), None, 10)
    new = recommendations_json(runtime_with(second, "2"), None, 10)
    assert b"renamed" not in old and b"renamed 1" in new
    assert same_but_request_id(
        new, recommendations_for(runtime_with(second, "2"), None, 10).model_dump_json().encode()
    )


def test_a_recommender_that_cannot_be_cached_still_answers():
    class Unhashable(FakeRecommender):
        __hash__ = None  # type: ignore[assignment]

    runtime = runtime_with(Unhashable())
    assert same_but_request_id(recommendations_json(runtime, 7, 4),
                               recommendations_for(runtime, 7, 4).model_dump_json().encode())  # fmt: skip


def test_errors_are_the_same_on_both_paths():
    runtime = runtime_with(None)
    for build in (recommendations_for, recommendations_json):
        with pytest.raises(NoChampion, match="no champion model registered yet"):
            build(runtime, 1, 10)
        with pytest.raises(UnknownGenres, match="Western"):
            build(runtime_with(FakeRecommender()), 1, 10, ["Western"])


def recommender_with_ids(user_ids, item_ids) -> Recommender:
    rec = Recommender.__new__(Recommender)  # only the id maps: no bundle on disk needed
    rec.maps = IdMaps(np.asarray(user_ids, dtype=np.int64), np.asarray(item_ids, dtype=np.int64))
    return rec


@pytest.mark.parametrize("n_ids", [0, 1, 7, 500])
def test_scalar_and_vector_id_lookups_equal_idmaps(n_ids):
    rng = np.random.default_rng(n_ids)
    ids = np.sort(rng.choice(10_000, n_ids, replace=False))
    rec = recommender_with_ids(ids, ids)
    probes = [0, 1, 9_999, 10_000, 2**31 - 1, *ids[:20].tolist(), *rng.integers(0, 10_001, 50).tolist()]
    for user in probes:
        assert rec._find_user(user) == int(rec.maps.user_index(np.array([user]))[0])
        assert rec.known_user(user) == (int(rec.maps.user_index(np.array([user]))[0]) >= 0)
    for n in (0, 1, 5, 60):
        raw = rng.choice(np.array(probes, dtype=np.int64), n)
        got, want = rec._item_idx(raw), rec.maps.item_index(raw)
        assert got.dtype == want.dtype and got.tolist() == want.tolist()
