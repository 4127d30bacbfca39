"""A simulated population for the online A/B demo: real data-set users with KNOWN preferences and a click model.

Each user's latest ratings (by time) are held out; the held-out movies rated >= `liked_rating` are what the user
likes. The demo's models train on the rest (`Population.history`), so the liked movies are unseen by every model and
may be shown: a model that ranks them higher earns more clicks, by construction, and the online A/B test must find
it. Pure (pandas + random, seeded); the driver that talks to the service is infra.demo_online.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.ab import Variant, variant_for

ARMS: tuple[Variant, Variant] = ("champion", "challenger")


@dataclass(frozen=True)
class ClickModel:
    """Position-based clicks: a liked movie at position p (1-based) is clicked with liked_top * decay**(p - 1), any
    other shown movie with base_rate (people also click by curiosity), independently."""

    liked_top: float = 0.6
    decay: float = 0.85
    base_rate: float = 0.01

    def probability(self, position: int, liked: bool) -> float:
        return self.liked_top * self.decay ** (position - 1) if liked else self.base_rate

    def expected_clicks(self, items: Sequence[int], liked: frozenset[int]) -> float:
        """Mean clicks on one answer (the CTR@10 a model earns with this user, for that list)."""
        return sum(self.probability(p, m in liked) for p, m in enumerate(items[:10], start=1))

    def clicks(self, items: Sequence[int], liked: frozenset[int], rng: random.Random) -> list[int]:
        """The movies this user clicks in one answer (top 10 only), drawn with rng."""
        return [
            m for p, m in enumerate(items[:10], start=1) if rng.random() < self.probability(p, m in liked)
        ]


@dataclass(frozen=True)
class Population:
    history: pd.DataFrame  # canonical ratings the models may train on (everything but the held-out part)
    liked: dict[
        int, frozenset[int]
    ]  # user id -> held-out movies rated >= liked_rating (and known to history)

    @property
    def users(self) -> list[int]:
        return sorted(self.liked)


def build_population(
    ratings: pd.DataFrame, holdout_share: float = 0.25, min_liked: int = 3, liked_rating: float = 4.0
) -> Population:
    """Hold out each user's latest `holdout_share` of ratings; users with >= min_liked liked movies form the
    population (every user stays in the history with at least one rating, so both models know them)."""
    if not 0 < holdout_share < 1:
        raise ValueError(f"holdout_share must be in (0, 1), got {holdout_share}")
    ordered = ratings.sort_values(["user_id", "timestamp", "item_id"], kind="stable")
    rank = ordered.groupby("user_id").cumcount()
    size = ordered.groupby("user_id")["item_id"].transform("size")
    held = rank >= size - (size * holdout_share).astype(int)
    history, later = ordered[~held], ordered[held]
    known = set(history["item_id"])
    good = later[(later["rating"] >= liked_rating) & later["item_id"].isin(known)]
    liked = {int(u): frozenset(int(m) for m in g["item_id"]) for u, g in good.groupby("user_id")}
    liked = {u: movies for u, movies in liked.items() if len(movies) >= min_liked}
    return Population(history.sort_index().reset_index(drop=True), liked)


def arm_users(users: Sequence[int], challenger_fraction: float, seed: int = 0) -> dict[Variant, list[int]]:
    """As many users from each A/B arm (pipelines.ab.variant_for, the service's own split), seeded: with
    fraction 0.1 the challenger arm is small, so the champion arm is sampled down to the same size."""
    by_arm: dict[Variant, list[int]] = {arm: [] for arm in ARMS}
    for user in users:
        by_arm[variant_for(user, challenger_fraction)].append(user)
    size = min(len(members) for members in by_arm.values())
    rng = random.Random(seed)
    return {arm: sorted(rng.sample(members, size)) for arm, members in by_arm.items()}


def request_plan(arms: dict[Variant, list[int]], requests: int, seed: int = 0) -> list[int]:
    """`requests` user ids, half per arm, alternating arms (both arms share every time window) and cycling each
    arm's users in a shuffled order (every user is asked about equally often)."""
    if any(not members for members in arms.values()):
        raise ValueError("both arms need users: the population has none in one arm")
    rng = random.Random(seed)
    queues: list[list[int]] = []
    for arm in ARMS:
        members, queue = list(arms[arm]), list[int]()
        while len(queue) < requests // 2:
            rng.shuffle(members)
            queue += members
        queues.append(queue[: requests // 2])
    return [user for pair in zip(*queues, strict=True) for user in pair]


def write_history(history: pd.DataFrame, movies: pd.DataFrame, folder: Path) -> Path:
    """The history as a data set in the ml-25m file format (ratings.csv + movies.csv, `pipelines.data` reads it
    for `synthetic-*` names): the demo's models train on it through the normal pipeline stages."""
    folder.mkdir(parents=True, exist_ok=True)
    history.rename(columns={"user_id": "userId", "item_id": "movieId"})[
        ["userId", "movieId", "rating", "timestamp"]
    ].to_csv(folder / "ratings.csv", index=False)
    titles = [
        t if pd.isna(y) else f"{t} ({int(y)})" for t, y in zip(movies["title"], movies["year"], strict=True)
    ]
    pd.DataFrame({"movieId": movies["item_id"], "title": titles, "genres": movies["genres"]}).to_csv(
        folder / "movies.csv", index=False
    )
    return folder
