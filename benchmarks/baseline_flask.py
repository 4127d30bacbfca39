"""Seed-style baseline for the serving benchmark: a Flask app that, per request, calls `model.predict` over all
items and filters the user's rated movies with pandas (what the original system did).

    python benchmarks/baseline_flask.py --port 5055   # serves the current MLflow champion (MOVIEREC_* settings)

Only for benchmarks/serving.py; not part of the product.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from flask import Flask, jsonify


def create_app():
    """Load the champion's Keras model plus the raw ratings/movies tables, the way the seed did."""
    import mlflow

    from pipelines.data import load_movielens
    from pipelines.registry import CHAMPION, get_alias_version
    from pipelines.settings import get_settings

    cfg = get_settings()
    mlflow.set_tracking_uri(cfg.mlflow_tracking_uri)
    version = get_alias_version(cfg, CHAMPION)
    model = mlflow.keras.load_model(f"models:/{cfg.model_name}/{version.version}")
    champion_maps = _id_maps(cfg, version.run_id)
    data = load_movielens(cfg.data_root, cfg.dataset)
    ratings: pd.DataFrame = data.ratings
    movies: pd.DataFrame = data.movies
    item_ids = champion_maps["item_ids"]
    user_ids = champion_maps["user_ids"]
    app = Flask(__name__)

    @app.get("/predict/<user_id>")
    def predict(user_id: str):
        uid = int(user_id)
        user_idx = int(np.searchsorted(user_ids, uid))
        items = pd.DataFrame({"item_id": item_ids, "item_idx": np.arange(len(item_ids))})
        users = np.full(len(items), user_idx, dtype=np.int32)
        scores = model.predict({"user": users, "item": items.item_idx.to_numpy(np.int32)}, verbose=0).reshape(
            -1
        )
        items["score"] = scores
        rated = ratings[ratings.user_id == uid].item_id
        items = items[~items.item_id.isin(rated)]
        top = items.sort_values("score", ascending=False).head(10).merge(movies, on="item_id", how="left")
        return jsonify({"user_id": uid, "recommendations": [
            {"movieId": int(r.item_id), "title": r.title, "score": float(r.score)} for r in top.itertuples()
        ]})  # fmt: skip

    @app.get("/healthz")
    def healthz():
        return "ok"

    return app


def _id_maps(cfg, run_id: str) -> dict:
    import json
    import tempfile
    from pathlib import Path

    import mlflow

    from pipelines.scoring import BUNDLE_DIR

    with tempfile.TemporaryDirectory() as tmp:
        folder = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=BUNDLE_DIR, dst_path=tmp)
        raw = json.loads((Path(folder) / "id_maps.json").read_text())
    return {k: np.asarray(v, dtype=np.int64) for k, v in raw.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args()
    create_app().run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
