"""Top-k recommendations for one request: personalized for known users, damped popularity otherwise."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from pydantic_core import to_json

from pipelines.impressions import ImpressionEvent
from serving.schemas import (
    LegacyMovie,
    LegacyPredictOut,
    ModelRef,
    RecommendationsOut,
    RecommendedMovie,
    Variant,
)

# candidates ranked per wanted item when a genre filter narrows a folded-in list
GENRE_OVERFETCH = 20


class NoChampion(RuntimeError):
    """No champion model is loaded (none registered yet, or the first load failed)."""

    def __init__(self, reason: str | None = None):
        super().__init__(reason or "no champion model registered yet")


class UnknownGenres(ValueError):
    """The request names genres that no movie in the catalog has."""


def normalize_genres(genres: Iterable[str] | None, known: set[str]) -> list[str] | None:
    """Split comma lists, trim, match case-insensitively against the catalog's genres; raises UnknownGenres."""
    if not genres:
        return None
    wanted = [g.strip() for raw in genres for g in raw.split(",") if g.strip()]
    if not wanted:
        return None
    by_lower = {g.lower(): g for g in known}
    unknown = [g for g in wanted if g.lower() not in by_lower]
    if unknown:
        raise UnknownGenres(f"unknown genres {unknown}; known: {sorted(known)}")
    return list(dict.fromkeys(by_lower[g.lower()] for g in wanted))


def catalog_genres(recommender: Any) -> set[str]:
    """All genres of the champion's catalog."""
    return set(recommender.genres)


def _in_genres(rec: Any, pairs: list[tuple[int, float]], genres: list[str] | None, k: int) -> list:
    if not genres:
        return pairs[:k]
    wanted = set(genres)
    return [(m, score) for m, score in pairs if wanted & set(rec.movies[m].genres)][:k]


def _choose(
    rec: Any,
    user_id: int | None,
    k: int,
    events: list[tuple[int, str]],
    genres: list[str] | None,
    boosts: Callable[[], Mapping[int, float]] | None = None,
) -> tuple[str, list[tuple[int, float]], int]:
    """(strategy, (movie_id, score) pairs, fresh clicks folded in) for one request.

    Fresh clicks are the strongest signal: they are folded in first (a genre filter then narrows the list);
    without them a known user gets their trained vector, unless they asked for genres (cold start by genres).
    """
    recent = {movie for movie, _ in events}
    known = user_id is not None and rec.known_user(user_id)
    if events:
        folded = rec.top_k_from_clicks(events, k * GENRE_OVERFETCH if genres else k, user_id=user_id)
        if folded is not None:
            pairs, used = folded
            return (
                ("personalized" if known else "personalized_from_clicks"),
                _in_genres(rec, pairs, genres, k),
                used,
            )
    if genres is None and known:
        return "personalized", rec.top_k(user_id, k, exclude=recent), 0
    # genres asked for = the person told us what they like now: honour it with the cold-start ranking,
    # but never show a known user the movies they already rated
    exclude = recent | (rec.seen(user_id) if known else set())
    return (
        "cold_start",
        rec.cold_start(k, genres=genres, exclude=exclude, boosts=boosts() if boosts else None),
        0,
    )


def movie_items(rec: Any, pairs: list[tuple[int, float]]) -> list[RecommendedMovie]:
    """(movie_id, score) pairs as response items with the catalog's title, genres and year."""
    movies = rec.movies
    return [
        RecommendedMovie(
            movie_id=int(mid),
            title=movies[mid].title,
            genres=list(movies[mid].genres),
            year=movies[mid].year,
            score=round(float(score), 6),
        )
        for mid, score in pairs
    ]


def _answer(
    champion: Any | None,
    user_id: int | None,
    k: int,
    events: list[tuple[int, str]] | None,
    genres: Iterable[str] | None,
    boosts: Callable[[], Mapping[int, float]] | None = None,
) -> tuple[str, list[tuple[int, float]], int, list[str] | None, int]:
    """(strategy, (movie_id, score) pairs, folded clicks, genre filter, excluded recent clicks) for one request."""
    if champion is None:
        raise NoChampion()
    rec = champion.recommender
    events = list(events or [])
    wanted_genres = normalize_genres(genres, catalog_genres(rec))
    strategy, pairs, folded = _choose(rec, user_id, k, events, wanted_genres, boosts)
    return strategy, pairs, folded, wanted_genres, len({movie for movie, _ in events})


@dataclass
class Served:
    """One answer of the replica, before it is serialized: which model (A/B arm) answered, what it showed."""

    champion: Any
    variant: Variant
    request_id: uuid.UUID
    strategy: str
    pairs: list[tuple[int, float]]
    folded: int
    genres: list[str] | None
    excluded: int

    def envelope(self, user_id: int | None, k: int, items: list[RecommendedMovie]) -> RecommendationsOut:
        return RecommendationsOut(
            user_id=user_id, k=k, strategy=self.strategy,
            model=ModelRef(name=self.champion.model_name, version=str(self.champion.version)),
            genres=self.genres or [], excluded_recent_clicks=self.excluded, folded_clicks=self.folded,
            variant=self.variant, request_id=self.request_id, items=items,
        )  # fmt: skip


def serve(runtime: Any, user_id: int | None, k: int, genres: Iterable[str] | None = None) -> Served:
    """The replica's answer: the user's A/B arm, their fresh clicks, trending lifts cold start; the impression is
    queued for the broker (never waited for)."""
    champion, variant = runtime.model_for(user_id)
    trending, weight = getattr(runtime, "trending", None), runtime.settings.trending_weight
    boosts = (lambda: trending.boosts(weight)) if trending is not None else None
    strategy, pairs, folded, wanted, excluded = _answer(
        champion, user_id, k, _fresh(runtime, user_id), genres, boosts
    )
    served = Served(champion, variant, uuid.uuid4(), strategy, pairs, folded, wanted, excluded)
    publish_impression(runtime, user_id, served)
    return served


def publish_impression(runtime: Any, user_id: int | None, served: Served) -> None:
    """What this answer showed, to the impressions topic (anonymous answers have no one to attribute clicks to)."""
    publisher = getattr(runtime, "impressions", None)
    if publisher is None or user_id is None:
        return
    event = ImpressionEvent(request_id=served.request_id, user_id=user_id, model_name=served.champion.model_name,
                            model_version=str(served.champion.version), variant=served.variant,
                            strategy=served.strategy, items=[m for m, _ in served.pairs])  # fmt: skip
    publisher.offer(event.kafka_key(), event.to_json_bytes())


def build_recommendations(
    champion: Any | None,
    user_id: int | None,
    k: int,
    events: list[tuple[int, str]] | None = None,
    genres: Iterable[str] | None = None,
) -> RecommendationsOut:
    """Top-k for one request: `personalized` (a known user, their fresh clicks folded into their vector),
    `personalized_from_clicks` (an unknown user with fresh clicks: a vector solved from them alone) or
    `cold_start` (damped popularity, optionally by genres). Seen and freshly clicked movies are never shown.

    `events`: the user's fresh (movie_id, event) clicks, oldest first; user_id None = anonymous.
    """
    strategy, pairs, folded, wanted_genres, excluded = _answer(champion, user_id, k, events, genres)
    served = Served(champion, "champion", uuid.uuid4(), strategy, pairs, folded, wanted_genres, excluded)
    return served.envelope(user_id, k, movie_items(champion.recommender, pairs))


def recommendations_for(
    runtime: Any, user_id: int | None, k: int, genres: Iterable[str] | None = None
) -> RecommendationsOut:
    """The one recommend path of both HTTP forms: the user's fresh clicks from the replica's state, then the model."""
    served = serve(runtime, user_id, k, genres)
    return served.envelope(user_id, k, movie_items(served.champion.recommender, served.pairs))


def _fresh(runtime: Any, user_id: int | None) -> list[tuple[int, str]]:
    return runtime.recent.events(user_id) if user_id is not None and runtime.recent is not None else []


# --- the same answer as JSON bytes, without building a pydantic model per item (the GET routes' hot path) -------

# recommender -> {movie_id: b'{"movie_id":..,"title":..,"genres":[..],"year":..,"score":'}; dropped with the model
_ITEM_PREFIXES: WeakKeyDictionary[Any, dict[int, bytes]] = WeakKeyDictionary()
_SCORE_PLACEHOLDER = b"0.0}"
_NO_ITEMS = b"[]}"


def _prefixes(rec: Any) -> dict[int, bytes]:
    """This model's item-prefix cache (a throwaway one for a recommender that cannot be weakly referenced)."""
    try:
        cache = _ITEM_PREFIXES.get(rec)
        return cache if cache is not None else _ITEM_PREFIXES.setdefault(rec, {})
    except TypeError:
        return {}


def _item_prefix(rec: Any, cache: dict[int, bytes], movie_id: int) -> bytes:
    """One item's JSON up to its score, serialized by RecommendedMovie itself (so the same bytes), made once."""
    prefix = cache.get(movie_id)
    if prefix is None:
        movie = rec.movies[movie_id]
        item = RecommendedMovie(
            movie_id=int(movie_id), title=movie.title, genres=list(movie.genres), year=movie.year, score=0.0
        )
        whole = item.model_dump_json().encode()
        if not whole.endswith(b'"score":' + _SCORE_PLACEHOLDER):
            raise RuntimeError(f"unexpected item serialization {whole!r}")
        prefix = cache[movie_id] = whole[: -len(_SCORE_PLACEHOLDER)]
    return prefix


def recommendations_json(
    runtime: Any, user_id: int | None, k: int, genres: Iterable[str] | None = None
) -> bytes:
    """`recommendations_for(...).model_dump_json()`, byte for byte, at a fraction of the cost: the envelope is
    still a RecommendationsOut (validated, serialized by pydantic); each item is its cached movie prefix plus the
    score serialized by pydantic-core (one call for all scores, same float format as the model's)."""
    served = serve(runtime, user_id, k, genres)
    champion, pairs = served.champion, served.pairs
    envelope = served.envelope(user_id, k, [])
    head = envelope.model_dump_json().encode()
    if not pairs:
        return head
    if not head.endswith(_NO_ITEMS):
        raise RuntimeError(f"unexpected envelope serialization {head!r}")
    rec = champion.recommender
    cache = _prefixes(rec)
    scores = to_json([round(float(score), 6) for _, score in pairs], inf_nan_mode="null")[1:-1].split(b",")
    items = b"},".join(
        _item_prefix(rec, cache, mid) + score for (mid, _), score in zip(pairs, scores, strict=True)
    )
    return b"".join((head[: -len(_NO_ITEMS)], b"[", items, b"}]}"))


def legacy_predict(out: RecommendationsOut, user_id: str) -> LegacyPredictOut:
    """The original system's /predict shape."""
    return LegacyPredictOut(
        user_id=user_id,
        recommendations=[
            LegacyMovie(movieId=m.movie_id, title=m.title, genres=m.genres, score=m.score) for m in out.items
        ],
        strategy=out.strategy,
        model_version=out.model.version,
    )
