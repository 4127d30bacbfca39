"""A bounded, realistic click stream: users and movies drawn (popularity-weighted) from a MovieLens dataset."""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines.events import ClickEvent
from pipelines.kafka_config import producer
from pipelines.settings import Settings

EVENT_MIX = (("click", 0.8), ("like", 0.12), ("watch", 0.08))


@dataclass
class Population:
    """Who clicks on what: user ids and movie ids with popularity weights."""

    users: list[int]
    movies: list[int]
    movie_weights: list[float]

    @classmethod
    def from_dataset(cls, dataset_dir: Path, max_rows: int = 200_000) -> Population:
        counts: dict[int, int] = {}
        users: set[int] = set()
        with open(dataset_dir / "ratings.csv", newline="") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                if i >= max_rows:
                    break
                users.add(int(row["userId"]))
                counts[int(row["movieId"])] = counts.get(int(row["movieId"]), 0) + 1
        return cls(sorted(users), list(counts), [float(c) for c in counts.values()])

    @classmethod
    def synthetic(cls, n_users: int = 600, n_movies: int = 9000) -> Population:
        movies = list(range(1, n_movies + 1))
        return cls(list(range(1, n_users + 1)), movies, [1.0 / m for m in movies])  # Zipf-like popularity


def population(settings: Settings) -> Population:
    if (settings.dataset_dir / "ratings.csv").is_file():
        return Population.from_dataset(settings.dataset_dir)
    return Population.synthetic()


def click_events(pop: Population, count: int, seed: int = 0, source: str = "loadgen") -> Iterator[ClickEvent]:
    rng = random.Random(seed)
    kinds, weights = zip(*EVENT_MIX, strict=True)
    for _ in range(count):
        yield ClickEvent(
            user_id=rng.choice(pop.users),
            movie_id=rng.choices(pop.movies, pop.movie_weights)[0],
            event=rng.choices(kinds, weights)[0],
            source=source,
        )


def produce_event(prod, topic: str, event: ClickEvent) -> None:
    """Queue one event, waiting for room in the producer's buffer instead of dropping it."""
    while True:
        try:
            prod.produce(topic, key=event.kafka_key(), value=event.to_json_bytes())
            break
        except BufferError:
            prod.poll(0.05)
    prod.poll(0)


def produce(settings: Settings, count: int, rate: float, seed: int = 0, source: str = "loadgen") -> dict:
    """Produce `count` events at most `rate` events/s (keyed by user); returns counts and the achieved rate."""
    if count <= 0 or rate <= 0:
        raise ValueError("count and rate must be positive")
    prod = producer(settings.kafka_bootstrap)
    pop = population(settings)
    began = time.monotonic()
    for i, event in enumerate(click_events(pop, count, seed, source)):
        due = began + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        produce_event(prod, settings.clicks_topic, event)
    undelivered = prod.flush(30)
    seconds = time.monotonic() - began
    return {"produced": count - undelivered, "seconds": round(seconds, 2), "rate": round(count / seconds, 1)}
