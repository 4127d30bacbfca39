"""Content features: what a movie (genres, release year) and a user (genre profile, demographics) look like, as
fixed-width vectors, so a model can place a movie it has never seen an interaction for.

The item encoding is a spec (genre vocabulary + year buckets) fitted on the training catalog and shipped in the
serving bundle, so a movie added later is encoded exactly as training encoded its neighbours. Every row also has
a constant `any_movie` feature: the intercept of the content projection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

NO_GENRES = ("(no genres listed)", "unknown")  # MovieLens' "no genre" markers: not a genre feature
YEAR_EDGES = (
    1930,
    1950,
    1960,
    1970,
    1980,
    1990,
    2000,
    2010,
    2020,
)  # bucket b = years in [edge[b-1], edge[b])
AGE_EDGES = (18, 25, 35, 45, 50, 56)  # ml-1m's age groups
GENDERS = ("F", "M")
SPEC_FILE = "content_spec.json"


class InvalidMovie(ValueError):
    """A movie record cannot be added (unknown genre, no year, duplicate id, ...); the message says which field."""


def split_genres(genres: str | list[str] | tuple[str, ...]) -> list[str]:
    """'Action|Sci-Fi' or ['Action', 'Sci-Fi'] -> ['Action', 'Sci-Fi'] (no-genre markers dropped)."""
    parts = genres.split("|") if isinstance(genres, str) else list(genres)
    return [g.strip() for g in parts if g.strip() and g.strip() not in NO_GENRES]


def _bucket(values: np.ndarray, edges: tuple[int, ...]) -> np.ndarray:
    return np.searchsorted(np.asarray(edges), values, side="right")


@dataclass(frozen=True)
class ItemFeatureSpec:
    """Multi-hot genres + one-hot release-year bucket (+ "year unknown") + a constant, in that column order."""

    genres: tuple[str, ...]
    year_edges: tuple[int, ...] = YEAR_EDGES

    @classmethod
    def fit(cls, movies: pd.DataFrame) -> ItemFeatureSpec:
        vocab = sorted({g for raw in movies.genres.fillna("") for g in split_genres(raw)})
        return cls(tuple(vocab))

    @property
    def names(self) -> list[str]:
        years = [f"year<{self.year_edges[0]}"]
        years += [f"year{lo}-{hi - 1}" for lo, hi in zip(self.year_edges, self.year_edges[1:], strict=False)]
        years += [f"year>={self.year_edges[-1]}", "year_unknown"]
        return [f"genre={g}" for g in self.genres] + years + ["any_movie"]

    @property
    def n_features(self) -> int:
        return len(self.genres) + len(self.year_edges) + 3

    def encode(self, movies: pd.DataFrame) -> np.ndarray:
        """(len(movies), n_features) float32, rows in the frame's order; genres outside the vocabulary are ignored
        (use `check_movie` to refuse them instead)."""
        out = np.zeros((len(movies), self.n_features), dtype=np.float32)
        column = {g: c for c, g in enumerate(self.genres)}
        for row, raw in enumerate(movies.genres.fillna("").to_numpy()):
            for g in split_genres(raw):
                if g in column:
                    out[row, column[g]] = 1.0
        years = pd.to_numeric(movies.year, errors="coerce").to_numpy(dtype=np.float64)
        known = ~np.isnan(years)
        first_year = len(self.genres)
        buckets = np.where(known, _bucket(np.nan_to_num(years), self.year_edges), len(self.year_edges) + 1)
        out[np.arange(len(movies)), first_year + buckets] = 1.0
        out[:, -1] = 1.0
        return out

    def save(self, folder: Path) -> Path:
        path = Path(folder) / SPEC_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"genres": list(self.genres), "year_edges": list(self.year_edges)}))
        return path

    @classmethod
    def load(cls, folder: Path) -> ItemFeatureSpec | None:
        path = Path(folder) / SPEC_FILE
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return cls(tuple(raw["genres"]), tuple(raw["year_edges"]))


def genre_profile(train: pd.DataFrame, item_features: np.ndarray, n_genres: int, n_users: int) -> np.ndarray:
    """(n_users, n_genres): each user's share of training positives per genre (the original system's per-user
    genre profile, on implicit feedback). `train` is in index space (user_idx, item_idx)."""
    profile = np.zeros((n_users, n_genres), dtype=np.float64)
    np.add.at(profile, train.user_idx.to_numpy(), item_features[train.item_idx.to_numpy(), :n_genres])
    counts = np.bincount(train.user_idx.to_numpy(), minlength=n_users)[:, None]
    return (profile / np.maximum(counts, 1)).astype(np.float32)


def demographics(users: pd.DataFrame, user_ids: np.ndarray, occupations: tuple[str, ...]) -> np.ndarray:
    """(len(user_ids), ...) one-hot age group, gender and occupation; all zeros for a user without a record."""
    width = len(AGE_EDGES) + 1 + len(GENDERS) + len(occupations)
    out = np.zeros((len(user_ids), width), dtype=np.float32)
    rows = users.set_index("user_id").reindex(user_ids)
    present = rows.age.notna().to_numpy()
    idx = np.flatnonzero(present)
    out[idx, _bucket(rows.age.to_numpy()[present], AGE_EDGES)] = 1.0
    for offset, values, vocab in (
        (len(AGE_EDGES) + 1, rows.gender, GENDERS),
        (len(AGE_EDGES) + 1 + len(GENDERS), rows.occupation, occupations),
    ):
        column = {v: c for c, v in enumerate(vocab)}
        for row in idx:
            c = column.get(values.iloc[row])
            if c is not None:
                out[row, offset + c] = 1.0
    return out


@dataclass
class ContentInputs:
    """The side inputs of a content-aware model, aligned with the id maps' rows."""

    spec: ItemFeatureSpec
    item_features: np.ndarray  # (n_items, spec.n_features)
    user_features: np.ndarray  # (n_users, G): genre profile (+ demographics where the data set has them)
    user_feature_names: list[str] = field(default_factory=list)


def build_content_inputs(
    movies: pd.DataFrame,
    item_ids: np.ndarray,
    user_ids: np.ndarray,
    train: pd.DataFrame,
    users: pd.DataFrame | None = None,
) -> ContentInputs:
    """Item features for the model's catalog (rows = item_ids) and user features from the training split only
    (the genre profile never sees a held-out interaction)."""
    spec = ItemFeatureSpec.fit(movies)
    catalog = movies.set_index("item_id").reindex(item_ids).reset_index()
    item_features = spec.encode(catalog)
    parts = [genre_profile(train, item_features, len(spec.genres), len(user_ids))]
    names = [f"profile={g}" for g in spec.genres]
    if users is not None and len(users):
        occupations = tuple(sorted(users.occupation.dropna().astype(str).unique()))
        parts.append(demographics(users, user_ids, occupations))
        names += [f"age_group_{b}" for b in range(len(AGE_EDGES) + 1)]
        names += [f"gender={g}" for g in GENDERS] + [f"occupation={o}" for o in occupations]
    return ContentInputs(spec, item_features, np.hstack(parts).astype(np.float32), names)
