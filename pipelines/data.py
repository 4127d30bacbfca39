"""MovieLens loaders (ml-latest-small, ml-100k, ml-1m) into one canonical shape, plus the online downloader.

Canonical ratings: user_id, item_id (the MovieLens movie id), rating (float), timestamp (epoch seconds).
Canonical movies: item_id, title, genres ('|'-joined), year (nullable int).
Canonical users (ml-100k, ml-1m only): user_id, age (years; ml-1m's age-group floor), gender (M/F), occupation.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

RATING_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]
MOVIE_COLUMNS = ["item_id", "title", "genres", "year"]
USER_COLUMNS = ["user_id", "age", "gender", "occupation"]
# ml-1m codes occupations as 0..20 (its README)
ML1M_OCCUPATIONS = [
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer", "programmer",
    "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
    "unemployed", "writer",
]  # fmt: skip
ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


class DataError(RuntimeError):
    """A data set is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class MovieLens:
    name: str
    ratings: pd.DataFrame
    movies: pd.DataFrame
    users: pd.DataFrame | None = None  # demographics, where the data set has them


@dataclass(frozen=True)
class DatasetSpec:
    """Where a data set comes from and how to read it."""

    name: str
    url: str
    sha256: str  # empty when GroupLens publishes only an md5
    reader: Callable[[Path], MovieLens]
    md5: str = ""


def _require(path: Path) -> Path:
    if not path.is_file():
        hint = ""
        if path.name == "ratings.dat":
            hint = (
                " (ml-1m is distributed without it here; download ml-1m.zip with `make data DATASET=ml-1m`)"
            )
        raise DataError(f"{path}: file not found{hint}")
    return path


def _read(path: Path, what: str, **kwargs) -> pd.DataFrame:
    try:
        return pd.read_csv(_require(path), **kwargs)
    except DataError:
        raise
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse {what}: {str(exc).splitlines()[0]}") from None


def _coerce_ratings(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Cast to canonical dtypes; rows that do not parse make the whole file fail with their count."""
    out = pd.DataFrame({col: pd.to_numeric(df[col], errors="coerce") for col in RATING_COLUMNS})
    bad = out.isna().any(axis=1)
    if bad.any():
        first = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(f"{path}: {int(bad.sum())} malformed rating row(s), first at data row {first + 1}")
    return out.astype({"user_id": "int64", "item_id": "int64", "rating": "float64", "timestamp": "int64"})


def _split_title_year(titles: pd.Series) -> tuple[pd.Series, pd.Series]:
    extracted = titles.str.strip().str.extract(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$")
    title = extracted["title"].fillna(titles.str.strip())
    year = pd.to_numeric(extracted["year"], errors="coerce").astype("Int64")
    return title, year


CSV_RATING_TYPES = {"userId": "int64", "movieId": "int64", "rating": "float64", "timestamp": "int64"}


def _read_csv_ratings(path: Path) -> pd.DataFrame:
    """ratings.csv (ml-latest-small / ml-25m format): typed in one pass; on any parse problem the slow, exact
    path names the malformed rows (parsing 25M rows as strings first would cost gigabytes)."""
    try:
        raw = pd.read_csv(_require(path), dtype=CSV_RATING_TYPES, engine="c")
        if set(CSV_RATING_TYPES) <= set(raw.columns) and not raw[list(CSV_RATING_TYPES)].isna().any().any():
            return raw.rename(columns={"userId": "user_id", "movieId": "item_id"})[RATING_COLUMNS]
    except (ValueError, pd.errors.ParserError):
        pass
    raw = _read(path, "ratings", dtype=str)
    if not set(CSV_RATING_TYPES).issubset(raw.columns):
        raise DataError(f"{path}: expected columns {sorted(CSV_RATING_TYPES)}, got {list(raw.columns)}")
    return _coerce_ratings(raw.rename(columns={"userId": "user_id", "movieId": "item_id"}), path)


def read_ml_latest_small(folder: Path) -> MovieLens:
    """ml-latest-small, ml-25m and the project's synthetic sets share this format (ratings.csv, movies.csv)."""
    ratings_path, movies_path = folder / "ratings.csv", folder / "movies.csv"
    ratings = _read_csv_ratings(ratings_path)
    movies_raw = _read(movies_path, "movies", dtype={"movieId": "int64", "title": str, "genres": str})
    title, year = _split_title_year(movies_raw["title"])
    movies = pd.DataFrame(
        {
            "item_id": movies_raw["movieId"],
            "title": title,
            "genres": movies_raw["genres"].fillna(""),
            "year": year,
        }
    )
    return MovieLens(folder.name, ratings, movies)


def read_ml_100k(folder: Path) -> MovieLens:
    ratings_path, items_path = folder / "u.data", folder / "u.item"
    raw = _read(ratings_path, "ratings", sep="\t", header=None, names=RATING_COLUMNS, dtype=str)
    ratings = _coerce_ratings(raw, ratings_path)
    cols = ["item_id", "title", "release_date", "video_release_date", "url", *ML100K_GENRES]
    items = _read(items_path, "movies", sep="|", header=None, names=cols, encoding="latin-1")
    flags = items[ML100K_GENRES].to_numpy(dtype=bool)
    genres = ["|".join(g for g, on in zip(ML100K_GENRES, row, strict=False) if on) for row in flags]
    title, year = _split_title_year(items["title"].astype(str))
    release_year = pd.to_datetime(items["release_date"], format="%d-%b-%Y", errors="coerce").dt.year
    movies = pd.DataFrame(
        {"item_id": items["item_id"].astype("int64"), "title": title, "genres": genres,
         "year": year.fillna(release_year.astype("Int64"))}
    )  # fmt: skip
    users = _read(folder / "u.user", "users", sep="|", header=None,
                  names=["user_id", "age", "gender", "occupation", "zip"], dtype={"user_id": "int64", "age": "int64"})  # fmt: skip
    return MovieLens(folder.name, ratings, movies, users[USER_COLUMNS])


def read_ml_1m(folder: Path) -> MovieLens:
    ratings_path, movies_path = folder / "ratings.dat", folder / "movies.dat"
    raw = _read(
        ratings_path, "ratings", sep="::", engine="python", header=None, names=RATING_COLUMNS, dtype=str
    )
    ratings = _coerce_ratings(raw, ratings_path)
    movies_raw = _read(
        movies_path, "movies", sep="::", engine="python", header=None,
        names=["item_id", "title", "genres"], encoding="latin-1",
    )  # fmt: skip
    title, year = _split_title_year(movies_raw["title"].astype(str))
    movies = pd.DataFrame(
        {
            "item_id": movies_raw["item_id"].astype("int64"),
            "title": title,
            "genres": movies_raw["genres"],
            "year": year,
        }
    )
    return MovieLens(folder.name, ratings, movies, _read_ml_1m_users(folder / "users.dat"))


def _read_ml_1m_users(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    raw = _read(path, "users", sep="::", engine="python", header=None,
                names=["user_id", "gender", "age", "occupation", "zip"])  # fmt: skip
    occupation = raw["occupation"].map(dict(enumerate(ML1M_OCCUPATIONS))).fillna("other")
    return raw.assign(occupation=occupation).astype({"user_id": "int64", "age": "int64"})[USER_COLUMNS]


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "ml-latest-small",
            "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
            "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
            read_ml_latest_small,
        ),
        DatasetSpec(
            "ml-100k",
            "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
            "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
            read_ml_100k,
        ),
        DatasetSpec(
            "ml-25m",
            "https://files.grouplens.org/datasets/movielens/ml-25m.zip",
            "",
            read_ml_latest_small,
            md5="6b51fb2759a8657d3bfcbfc42b592ada",  # GroupLens's ml-25m.zip.md5
        ),
        DatasetSpec(
            "ml-1m",
            "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
            "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
            read_ml_1m,
        ),
    )
}


SYNTHETIC_PREFIX = "synthetic-"


def dataset_spec(name: str) -> DatasetSpec:
    """A known MovieLens set, or a `synthetic-*` folder written by pipelines.synthetic (ml-25m format)."""
    if name.startswith(SYNTHETIC_PREFIX):
        return DatasetSpec(name, "", "", read_ml_latest_small)
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(
            f"unknown dataset {name!r}; choose one of {sorted(DATASETS)} or a {SYNTHETIC_PREFIX}* folder"
        ) from None


def load_movielens(data_root: Path, name: str) -> MovieLens:
    """Read one MovieLens data set from `data_root/<name>/` into the canonical frames."""
    spec = dataset_spec(name)
    folder = Path(data_root) / name
    if not folder.is_dir():
        raise DataError(f"{folder}: data set folder not found (set MOVIEREC_DATA_ROOT or run `make data`)")
    data = spec.reader(folder)
    log.info("loaded %s: %d ratings, %d users, %d movies", name, len(data.ratings),
             data.ratings.user_id.nunique(), len(data.movies))  # fmt: skip
    return data


def download_movielens(name: str, data_root: Path, opener: Callable = urllib.request.urlopen) -> Path:
    """Download the official GroupLens zip, verify its sha256, unzip into data_root. Online users only."""
    spec = dataset_spec(name)
    if not spec.url:
        raise DataError(
            f"{name} is generated, not downloaded: `python -m pipelines.synthetic --out <data_root>/{name}`"
        )
    target = Path(data_root) / name
    if target.is_dir() and any(target.iterdir()):
        log.info("%s already present at %s", name, target)
        return target
    log.info("downloading %s", spec.url)
    with opener(spec.url, timeout=120) as resp:
        payload = resp.read()
    algorithm, published = ("sha256", spec.sha256) if spec.sha256 else ("md5", spec.md5)
    digest = hashlib.new(algorithm, payload).hexdigest()
    if digest != published:
        raise DataError(f"{spec.url}: {algorithm} {digest} does not match the published {published}")
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        archive.extractall(tmp)
    inner = tmp / name
    (inner if inner.is_dir() else tmp).rename(target)
    shutil.rmtree(tmp, ignore_errors=True)
    return target
