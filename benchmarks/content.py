"""Content-features benchmark (issue 16): can the content-aware model place movies it never saw, and does it keep
the ID-only model's accuracy on the others?

    nice -n 5 .venvs/ml/bin/python benchmarks/content.py --datasets ml-100k ml-latest-small

New-item protocol (pipelines.new_items): 10% of the movies (seeded) are held out of training entirely; every user
who interacted with them gets them ranked, recall@10 / NDCG@10 restricted to the held-out movies. content_mf
(vectors from genres + year alone) vs the ID-only model (random: it has no vector for them) vs genre popularity
vs the user's own genre profile. content_mf's ID dropout is chosen on a validation hold-out of further movies
carved from the training movies, never on the test movies.
Overall: the gate's exact temporal protocol (each user's latest 25%, whole catalog ranked), mf vs content_mf.
Writes benchmarks/results/content.json ({"rows": [{"dataset", "protocol", "model", "ndcg_at_10",
"recall_at_10", ...}]}).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.content import ItemFeatureSpec, build_content_inputs, genre_profile
from pipelines.data import load_movielens
from pipelines.evaluate import EvalOptions, evaluate
from pipelines.fast_scoring import FastScorer
from pipelines.features import IdMaps, Split, full_ranking_split, to_implicit
from pipelines.new_items import (
    NewItemSplit,
    content_scores,
    evaluate_new_items,
    genre_popularity_scores,
    hold_out_movies,
)
from pipelines.scoring import FastPairScorer
from pipelines.settings import OFFLINE_DATA_ROOT, Settings
from pipelines.train import train_model

RESULTS = Path(__file__).resolve().parent / "results" / "content.json"


def train_fast(split: Split, maps: IdMaps, movies: pd.DataFrame, users, cfg: Settings):
    """(FastScorer, ItemFeatureSpec or None, train seconds) for cfg.model_type on split.train."""
    content = None
    if cfg.model_type == "content_mf":
        content = build_content_inputs(movies, maps.item_ids, maps.user_ids, split.train, users)
    started = time.perf_counter()
    model = train_model(split, maps.n_users, maps.n_items, cfg, content=content).model
    seconds = time.perf_counter() - started
    return FastScorer.from_keras(model), (content.spec if content else None), seconds


def new_item_rows(
    name: str, data, cfg: Settings, dropouts: list[float], seed: int
) -> tuple[list[dict], float]:
    """The new-item protocol's rows, and the ID dropout chosen on the validation movies."""
    interactions = to_implicit(data.ratings)
    split = hold_out_movies(interactions, 0.1, seed)
    # validation: hold out as many further movies from the training ones; choose the dropout there
    val = hold_out_movies(split.train, 0.1 / 0.9, seed + 1)
    scores_by_dropout = {}
    for p in dropouts:
        fast, spec, _, maps = _train_on(val, data, cfg.model_copy(update={"content_id_dropout": p}))
        scores_by_dropout[p] = evaluate_new_items(
            _content_user_scores(fast, spec, maps, data.movies, val), val
        )
        print(f"  {name} validation id_dropout={p}: {scores_by_dropout[p]}", flush=True)
    best = max(dropouts, key=lambda p: scores_by_dropout[p]["ndcg_at_10"])
    fast, spec, seconds, maps = _train_on(split, data, cfg.model_copy(update={"content_id_dropout": best}))
    rng = np.random.default_rng(seed)
    popularity = genre_popularity_scores(split.train, data.movies, split.held_out)
    profile = _profile_user_scores(split, maps, data.movies)
    candidates = {
        "content_mf": _content_user_scores(fast, spec, maps, data.movies, split),
        "mf (ID-only: random)": lambda u: rng.random(len(split.held_out)),
        "genre_popularity": lambda u: popularity,
        "user_genre_profile": profile,
    }
    rows = []
    for model, user_scores in candidates.items():
        result = evaluate_new_items(user_scores, split)
        rows.append({"dataset": name, "protocol": "new_items", "model": model, **_rounded(result),
                     **({"train_s": round(seconds, 1), "id_dropout": best} if model == "content_mf" else {})})  # fmt: skip
        print(f"  {rows[-1]}", flush=True)
    return rows, best


def _train_on(split: NewItemSplit, data, cfg: Settings):
    maps = IdMaps.fit(split.train)
    encoded = maps.encode(split.train)
    fast, spec, seconds = train_fast(
        Split("all", encoded, encoded.iloc[:0]), maps, data.movies, data.users, cfg
    )
    return fast, spec, seconds, maps


def _content_user_scores(fast: FastScorer, spec: ItemFeatureSpec, maps: IdMaps, movies, split: NewItemSplit):
    return content_scores(
        fast, maps, spec.encode(movies.set_index("item_id").reindex(split.held_out).reset_index())
    )


def _profile_user_scores(split: NewItemSplit, maps: IdMaps, movies):
    """Personalized content heuristic: the user's training genre shares dotted with the movie's genres."""
    spec = ItemFeatureSpec.fit(movies)
    features = spec.encode(movies.set_index("item_id").reindex(maps.item_ids).reset_index())
    profile = genre_profile(maps.encode(split.train), features, len(spec.genres), maps.n_users)
    held = spec.encode(movies.set_index("item_id").reindex(split.held_out).reset_index())[
        :, : len(spec.genres)
    ]
    held = held / np.maximum(held.sum(axis=1, keepdims=True), 1.0)

    def scores(user_id: int):
        u = int(maps.user_index(np.array([user_id]))[0])
        return None if u < 0 else held @ profile[u]

    return scores


def overall_rows(name: str, data, cfg: Settings, dropout: float, seed: int) -> list[dict]:
    """The gate's protocol: exact temporal ranking, ID-only mf vs content_mf."""
    interactions = to_implicit(data.ratings)
    maps = IdMaps.fit(interactions)
    split = full_ranking_split(maps.encode(interactions), cfg.holdout_ratio, seed, by_time=True)
    rows = []
    for model_type in ("mf", "content_mf"):
        run_cfg = cfg.model_copy(update={"model_type": model_type, "content_id_dropout": dropout})
        fast, _, seconds = train_fast(split, maps, data.movies, data.users, run_cfg)
        result = evaluate(
            FastPairScorer(fast), split, maps.n_users, maps.n_items, 10, EvalOptions(max_users=None)
        )
        rows.append({"dataset": name, "protocol": "temporal", "model": model_type, **_rounded(result),
                     "train_s": round(seconds, 1), **({"id_dropout": dropout} if model_type == "content_mf" else {})})  # fmt: skip
        print(f"  {rows[-1]}", flush=True)
    return rows


def _rounded(result: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "ml-latest-small"])
    parser.add_argument("--data-root", type=Path, default=OFFLINE_DATA_ROOT)
    parser.add_argument(
        "--dropouts", default="0.0,0.3,0.6", help="content_mf ID-dropout candidates (validation)"
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    cfg = Settings(model_type="content_mf", seed=args.seed)
    dropouts = [float(p) for p in args.dropouts.split(",")]
    rows = []
    for name in args.datasets:
        print(f"{name}:", flush=True)
        data = load_movielens(args.data_root, name)
        new_rows, best = new_item_rows(name, data, cfg, dropouts, args.seed)
        rows += new_rows + overall_rows(name, data, cfg, best, args.seed)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {"rows": rows, "defaults": {"epochs": cfg.epochs, "loss": cfg.loss, "embedding_dim": cfg.embedding_dim},
              "held_out_share": 0.1, "seed": args.seed, "dropout_candidates": dropouts}  # fmt: skip
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
