"""A seeded, MovieLens-shaped synthetic data set in the ml-25m file format, for scale runs beyond what is offline.

Shape: power-law user activity (every user rates >= 20 movies, as in MovieLens) and power-law item popularity;
preferences come from latent factors tied to genres plus noise, so a model can learn them and a better model
measurably wins; ratings on MovieLens's 0.5..5 half-star scale; timestamps per user inside 1995..2019; titles
"Synthetic Movie <id> (<year>)" and '|'-joined genres. Written as `ratings.csv` + `movies.csv` exactly like ml-25m,
so the same loader and great-expectations suites read it unchanged.

    python -m pipelines.synthetic --ratings 25000000 --out <data_root>/synthetic-25m
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

log = logging.getLogger(__name__)

GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
ML25M_RATINGS, ML25M_USERS, ML25M_MOVIES = 25_000_095, 162_541, 59_047  # movies with at least one rating
MIN_PER_USER = 20
FACTORS = 16
OVERSAMPLE = 3  # popularity-drawn candidates per rating a user makes
BYTES_PER_RATING = 120  # generation arrays + the ratings frame + CSV buffers, measured with headroom
START_TS, END_TS = 789_652_009, 1_574_327_703  # ml-25m's first and last rating


class SyntheticSizeError(ValueError):
    """The requested size cannot be generated on this machine (or is outside the supported range)."""


@dataclass(frozen=True)
class Shape:
    ratings: int
    users: int
    movies: int


def shape_for(n_ratings: int) -> Shape:
    """Users and movies for a size: ml-25m's at 25M, scaled down with ml-1m-like density below."""
    scale = n_ratings / ML25M_RATINGS
    users = max(int(ML25M_USERS * scale**0.9), 50)
    movies = max(int(ML25M_MOVIES * scale**0.6), 100)
    users = min(users, n_ratings // MIN_PER_USER)
    return Shape(n_ratings, users, movies)


def check_fits(n_ratings: int, available_bytes: int | None = None) -> None:
    """Refuse up front, with the numbers, a size that would not fit in memory (or makes no sense)."""
    if n_ratings < 10_000:
        raise SyntheticSizeError(f"{n_ratings} ratings: the generator makes 10,000 or more")
    needed = n_ratings * BYTES_PER_RATING
    available = psutil.virtual_memory().available if available_bytes is None else available_bytes
    if needed > 0.8 * available:
        raise SyntheticSizeError(
            f"{n_ratings:,} ratings need about {needed / 2**30:.1f} GiB while generating; only "
            f"{available / 2**30:.1f} GiB is available (80% may be used): choose fewer ratings"
        )


def _zipf_weights(n: int, exponent: float, offset: float, rng: np.random.Generator) -> np.ndarray:
    weights = (np.arange(n) + offset) ** -exponent
    rng.shuffle(weights)
    return weights / weights.sum()


def _movies(shape: Shape, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """The catalog and its latent item factors (genre directions + noise: genres carry real signal)."""
    n = shape.movies
    n_genres = rng.choice([1, 2, 3], size=n, p=[0.45, 0.35, 0.2])
    genre_popularity = _zipf_weights(len(GENRES), 0.8, 1.0, rng)
    genre_dirs = rng.normal(0, 1, (len(GENRES), FACTORS)) / np.sqrt(FACTORS)
    factors = rng.normal(0, 0.6, (n, FACTORS)) / np.sqrt(FACTORS)
    names = []
    for i in range(n):
        chosen = rng.choice(len(GENRES), size=n_genres[i], replace=False, p=genre_popularity)
        factors[i] += genre_dirs[chosen].mean(axis=0)
        names.append("|".join(GENRES[g] for g in sorted(chosen)))
    years = np.clip(2020 - rng.gamma(2.0, 9.0, n).astype(int), 1902, 2019)
    ids = np.arange(1, n + 1)
    titles = [f"Synthetic Movie {i} ({y})" for i, y in zip(ids, years, strict=True)]
    return pd.DataFrame({"movieId": ids, "title": titles, "genres": names}), factors


def _user_counts(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """Ratings per user: >= 20 each, power-law above that, none over half the catalog; sums to shape.ratings."""
    cap = shape.movies // 2
    weights = _zipf_weights(shape.users, 1.1, 20.0, rng)
    counts = np.full(shape.users, MIN_PER_USER)
    for _ in range(10):  # heavy users hit the cap: hand their excess to the others
        short = shape.ratings - int(counts.sum())
        open_ = counts < cap
        if short <= 0 or not open_.any():
            break
        counts = np.minimum(
            counts + rng.multinomial(short, np.where(open_, weights, 0) / weights[open_].sum()), cap
        )
    return counts


def _gumbel(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Gumbel noise in float32 (a uniform draw of exactly 0 gives -inf: that item is simply not picked)."""
    with np.errstate(divide="ignore"):
        return -np.log(-np.log(rng.random(shape, dtype=np.float32)))


def _full_catalog_picks(keys_base: np.ndarray, affinity: np.ndarray, counts: np.ndarray,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Top-`count` items of each row by popularity x affinity with Gumbel noise: draws without replacement."""
    keys = keys_base + 1.5 * affinity + _gumbel(affinity.shape, rng)
    top = np.argpartition(-keys, int(counts.max()) - 1, axis=1)[:, : int(counts.max())]
    return top, np.take_along_axis(affinity, top, axis=1)


def _picks(users_f: np.ndarray, item_factors: np.ndarray, cdf: np.ndarray, log_pop: np.ndarray,
           counts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(items, affinity) per row, `counts[r]` first columns valid. Candidates are drawn by popularity
    (OVERSAMPLE x the count, with replacement); the distinct ones are ranked by latent affinity + Gumbel noise.
    Cost ~ ratings x factors instead of users x catalog. Rows with too few distinct candidates (the heaviest
    users) rank the whole catalog instead."""
    width = int(OVERSAMPLE * counts.max()) + 50
    cand = np.searchsorted(cdf, rng.random((len(counts), width)) * cdf[-1]).clip(max=len(cdf) - 1)
    cand.sort(axis=1)
    dup = np.zeros(cand.shape, dtype=bool)
    dup[:, 1:] = cand[:, 1:] == cand[:, :-1]
    affinity = np.einsum("rf,rkf->rk", users_f, item_factors[cand])
    keys = 1.5 * affinity + _gumbel(affinity.shape, rng)
    keys[dup] = -np.inf
    c = int(counts.max())
    top = np.argpartition(-keys, c - 1, axis=1)[:, :c]
    items, liking = np.take_along_axis(cand, top, axis=1), np.take_along_axis(affinity, top, axis=1)
    short = np.flatnonzero((~dup).sum(axis=1) < counts)
    if len(short):
        full = users_f[short] @ item_factors.T
        top_full, like_full = _full_catalog_picks(log_pop, full, counts[short], rng)
        items[short], liking[short] = top_full[:, :c], like_full[:, :c]
    return items, liking


def _ratings(
    shape: Shape, item_factors: np.ndarray, rng: np.random.Generator, budget: int = 2_000_000
) -> pd.DataFrame:
    """Each user's movies drawn without replacement, by popularity (candidates) x latent affinity (choice)."""
    weights = _zipf_weights(shape.movies, 1.0, 10.0, rng)
    cdf, log_pop = np.cumsum(weights), np.log(weights).astype(np.float32)
    counts = _user_counts(shape, rng)
    order = np.argsort(counts, kind="stable")  # similar counts per batch: one width fits all
    users_out, items_out, ratings_out, ts_out = [], [], [], []
    item_factors32 = item_factors.astype(np.float32)
    start = 0
    while start < shape.users:
        size = 1024
        while (
            size > 1 and size * (OVERSAMPLE * counts[order[min(start + size, shape.users) - 1]] + 50) > budget
        ):
            size //= 2
        users = order[start : start + size]
        start += len(users)
        user_factors = rng.normal(0, 1, (len(users), FACTORS)).astype(np.float32)
        c = counts[users]
        picks, affinity = _picks(user_factors, item_factors32, cdf, log_pop, c, rng)
        mask = np.arange(picks.shape[1]) < c[:, None]
        rows = np.broadcast_to(np.arange(len(users))[:, None], picks.shape)[mask]
        items, liking = picks[mask], affinity[mask]
        stars = 3.5 + 1.1 * (liking - liking.mean()) / (liking.std() + 1e-6) + rng.normal(0, 0.7, len(items))
        users_out.append(users[rows] + 1)
        items_out.append(items + 1)
        ratings_out.append(np.clip(np.round(stars * 2) / 2, 0.5, 5.0).astype(np.float32))
        first = rng.integers(START_TS, END_TS - 86_400, len(users))
        span = np.minimum(rng.exponential(200 * 86_400, len(users)), END_TS - first).astype(np.int64)
        ts_out.append(first[rows] + (rng.random(len(items)) * span[rows]).astype(np.int64))
    return pd.DataFrame({
        "userId": np.concatenate(users_out), "movieId": np.concatenate(items_out),
        "rating": np.concatenate(ratings_out), "timestamp": np.concatenate(ts_out),
    }).sort_values(["userId", "timestamp"], kind="stable")  # fmt: skip


def generate(n_ratings: int, out_dir: Path, seed: int = 0) -> Shape:
    """Write `ratings.csv` and `movies.csv` (ml-25m format) of about n_ratings ratings into out_dir."""
    check_fits(n_ratings)
    rng = np.random.default_rng(seed)
    shape = shape_for(n_ratings)
    started = time.perf_counter()
    movies, factors = _movies(shape, rng)
    ratings = _ratings(shape, factors, rng)
    out_dir.mkdir(parents=True, exist_ok=True)
    movies.to_csv(out_dir / "movies.csv", index=False)
    ratings.to_csv(out_dir / "ratings.csv", index=False, float_format="%.1f")
    written = Shape(len(ratings), int(ratings.userId.nunique()), int(ratings.movieId.nunique()))
    log.info("synthetic %s in %.0fs -> %s", written, time.perf_counter() - started, out_dir)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        print(generate(args.ratings, args.out, args.seed))
    except SyntheticSizeError as exc:
        print(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
