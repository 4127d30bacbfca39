"""The folder of one pipeline run (`var/runs/<run_id>/`): the only place that knows its layout.

Stages hand off through these files, so each stage (an Airflow task in its own interpreter) can be re-run alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pipelines.features import IdMaps, Split

FEEDBACK_COLUMNS = ("event_id", "user_id", "movie_id", "event", "ts", "source")


@dataclass(frozen=True)
class RunStore:
    root: Path
    run_id: str

    @property
    def dir(self) -> Path:
        return self.root / self.run_id

    def path(self, *parts: str) -> Path:
        """A file in the run folder, its parent created."""
        p = self.dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    # --- small JSON summaries (one per stage) ------------------------------------------------------
    def write_json(self, name: str, payload: Any) -> Any:
        self.path(name).write_text(json.dumps(payload, indent=2, default=str))
        return payload

    def read_json(self, name: str) -> Any:
        path = self.dir / name
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing; run the earlier stages of run {self.run_id!r} first")
        return json.loads(path.read_text())

    # --- inputs ---------------------------------------------------------------------------------------
    @property
    def feedback_file(self) -> Path:
        """Landed feedback frozen for this run by the DAG's load_feedback task."""
        return self.dir / "feedback.jsonl"

    @property
    def validation_dir(self) -> Path:
        return self.dir / "validation"

    def save_data(
        self, ratings: pd.DataFrame, movies: pd.DataFrame, users: pd.DataFrame | None = None
    ) -> None:
        ratings.to_parquet(self.path("data", "ratings.parquet"))
        movies.to_parquet(self.path("data", "movies.parquet"))
        if users is not None:
            users.to_parquet(self.path("data", "users.parquet"))

    def ratings(self) -> pd.DataFrame:
        return pd.read_parquet(self.dir / "data" / "ratings.parquet")

    def movies(self) -> pd.DataFrame:
        return pd.read_parquet(self.dir / "data" / "movies.parquet")

    def users(self) -> pd.DataFrame | None:
        """User demographics, where the data set has them."""
        path = self.dir / "data" / "users.parquet"
        return pd.read_parquet(path) if path.exists() else None

    def feedback(self) -> pd.DataFrame:
        """The run's feedback snapshot, or an empty frame with the landed columns."""
        path = self.feedback_file
        if not path.exists() or path.stat().st_size == 0:
            return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("user_id", "movie_id", "ts") else "object")
                                 for c in FEEDBACK_COLUMNS})  # fmt: skip
        return pd.read_json(path, lines=True, dtype={"event_id": str, "event": str, "source": str})

    # --- the split --------------------------------------------------------------------------------------
    def save_split(self, split: Split, interactions: pd.DataFrame, maps: IdMaps) -> None:
        if split.test_negatives is not None:
            np.save(self.path("split", "test_negatives.npy"), split.test_negatives)
        split.train.to_parquet(self.path("split", "train.parquet"))
        split.test.to_parquet(self.path("split", "test.parquet"))
        interactions.to_parquet(self.path("split", "interactions.parquet"))
        maps.save(self.path("split", "id_maps.json"))

    def split(self) -> tuple[Split, IdMaps]:
        from pipelines.features import IdMaps, Split

        protocol = self.read_json("preprocess.json")["protocol"]
        negatives = (
            np.load(self.dir / "split" / "test_negatives.npy") if protocol == "leave_one_out" else None
        )
        split = Split(protocol, pd.read_parquet(self.dir / "split" / "train.parquet"),
                      pd.read_parquet(self.dir / "split" / "test.parquet"), negatives)  # fmt: skip
        return split, IdMaps.load(self.dir / "split" / "id_maps.json")

    def interactions(self) -> pd.DataFrame:
        return pd.read_parquet(self.dir / "split" / "interactions.parquet")

    # --- the model and what ships with it --------------------------------------------------------------
    @property
    def model_file(self) -> Path:
        return self.path("model", "model.keras")

    def load_model(self) -> Any:
        import keras

        return keras.saving.load_model(self.dir / "model" / "model.keras")

    @property
    def content_spec_dir(self) -> Path:
        """Where a content-aware model's feature spec is kept until the bundle is built."""
        return self.dir / "model"

    @property
    def bundle_dir(self) -> Path:
        """The serving bundle (id maps, seen items, catalog, cold-start ranking) logged next to the model."""
        return self.dir / "bundle"
