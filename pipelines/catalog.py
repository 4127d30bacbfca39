"""Catalog additions: movies added after a model was trained (no interactions yet), as one JSON-lines file.

The contract shared by the service (which validates and appends a record, then places the movie from its
content at once) and the pipeline (whose validate stage merges the file into the catalog, so the next retrain
learns from the interactions the new movies collect). Appending a line is the whole write: a record is either
in the file complete or not at all.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from pipelines.content import InvalidMovie, split_genres

MIN_YEAR, MAX_YEAR = 1870, 2100
MAX_TITLE = 300


@dataclass(frozen=True)
class NewMovie:
    item_id: int
    title: str
    genres: list[str]
    year: int
    added_at: float  # epoch seconds

    def frame(self) -> pd.DataFrame:
        """One canonical movies row (pipelines.data's columns) plus `added_at`."""
        return pd.DataFrame({"item_id": [self.item_id], "title": [self.title], "genres": ["|".join(self.genres)],
                             "year": pd.array([self.year], dtype="Int64"), "added_at": [self.added_at]})  # fmt: skip


def check_new_movie(
    item_id: int, title: str, genres: list[str], year: int | None, known_genres: list[str], existing: set[int]
) -> NewMovie:
    """A complete, valid record or InvalidMovie naming the field; `existing`: ids already in the catalog."""
    if item_id in existing:
        raise InvalidMovie(f"movie {item_id} is already in the catalog")
    title = (title or "").strip()
    if not title or len(title) > MAX_TITLE:
        raise InvalidMovie(f"title must have 1..{MAX_TITLE} characters")
    if year is None:
        raise InvalidMovie("year is required: the model places a new movie by its genres and release year")
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidMovie(f"year must be between {MIN_YEAR} and {MAX_YEAR}, got {year}")
    by_lower = {g.lower(): g for g in known_genres}
    wanted = split_genres(genres)
    unknown = [g for g in wanted if g.lower() not in by_lower]
    if unknown:
        raise InvalidMovie(f"unknown genres {unknown}; known: {sorted(known_genres)}")
    if not wanted:
        raise InvalidMovie("at least one genre is required")
    return NewMovie(
        item_id, title, list(dict.fromkeys(by_lower[g.lower()] for g in wanted)), year, time.time()
    )


def append_addition(path: Path, movie: NewMovie) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(movie)) + "\n")


def read_additions(path: Path) -> pd.DataFrame:
    """Every added movie (first record per id wins), canonical movie columns + added_at; empty when none."""
    columns = ["item_id", "title", "genres", "year", "added_at"]
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(columns, ("int64", "object", "object", "Int64",
                                                                              "float64"), strict=True)})  # fmt: skip
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    frame = pd.DataFrame(rows).drop_duplicates("item_id", keep="first")
    return pd.DataFrame({"item_id": frame.item_id.astype("int64"), "title": frame.title.astype(str),
                         "genres": frame.genres.map("|".join), "year": frame.year.astype("Int64"),
                         "added_at": frame.added_at.astype("float64")}).reset_index(drop=True)  # fmt: skip


def with_additions(movies: pd.DataFrame, added: pd.DataFrame) -> pd.DataFrame:
    """The data set's movies plus the added ones (read_additions) it does not have yet: a retrain's catalog."""
    added = added[~added.item_id.isin(movies.item_id)]
    if added.empty:
        return movies
    return pd.concat([movies, added[movies.columns]], ignore_index=True)
