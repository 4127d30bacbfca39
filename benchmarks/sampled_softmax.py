"""Sampled vs exact softmax for MF (issue 13 part 3): is the scalable estimate within noise of the exact loss?

Per data set: the gate's temporal split (seed 42); a validation split carved from its train part with the same
splitter chooses the sampled step's users per step and learning rate (never the test set); then the exact default and the chosen
sampled configuration are trained on the full train part and scored on the test part (exact NDCG@10, whole
catalog ranked, all users, 95% interval). Forcing the sampled step on small catalogs is what this checks; the
pipeline only uses it above `softmax_sample_above_items`.

    .venvs/ml/bin/python benchmarks/sampled_softmax.py --data-root var/acc-data \
        --datasets ml-100k ml-latest-small synthetic-1000000

Writes benchmarks/results/sampled_softmax.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.data import load_movielens  # noqa: E402
from pipelines.evaluate import EvalOptions, evaluate  # noqa: E402
from pipelines.features import IdMaps, full_ranking_split, to_implicit  # noqa: E402
from pipelines.settings import PROJECT_ROOT, Settings  # noqa: E402
from pipelines.train import numpy_scorer, train_model  # noqa: E402

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "sampled_softmax.json"
EXACT = {"softmax_sample_above_items": None}
SAMPLED = {"softmax_sample_above_items": 1}


def score(split, maps: IdMaps, overrides: dict) -> dict:
    cfg = Settings(model_type="mf", loss="softmax", eval_every=1000, **overrides)
    result = train_model(split, maps.n_users, maps.n_items, cfg)
    metrics = evaluate(numpy_scorer(result.model), split, maps.n_users, maps.n_items, 10, EvalOptions())
    return {"ndcg_at_10": metrics["ndcg_at_10"], "ci95": metrics["ndcg_at_10_ci95"],
            "train_s": round(result.train_seconds, 1), "overrides": overrides}  # fmt: skip


def compare(dataset: str, data_root: Path, grid: list[tuple[int, float]]) -> dict:
    interactions = to_implicit(load_movielens(data_root, dataset).ratings)
    maps = IdMaps.fit(interactions)
    split = full_ranking_split(maps.encode(interactions), 0.75, seed=42, by_time=True)
    validation = full_ranking_split(split.train, 0.75, seed=43, by_time=True)
    candidates = [{**SAMPLED, "sampled_users_per_batch": b, "learning_rate": lr} for b, lr in grid]
    on_validation = [score(validation, maps, c) for c in [EXACT, *candidates]]
    for row in on_validation:
        print(f"{dataset} validation {row}", flush=True)
    chosen = max(on_validation[1:], key=lambda r: r["ndcg_at_10"])["overrides"]
    test = {"exact": score(split, maps, EXACT), "sampled": score(split, maps, chosen)}
    print(f"{dataset} test {test}", flush=True)
    return {"dataset": dataset, "users": maps.n_users, "items": maps.n_items, "validation": on_validation,
            "chosen": chosen, "test": test}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "ml-latest-small"])
    parser.add_argument(
        "--grid",
        nargs="+",
        default=["64:0.01", "64:0.02", "256:0.01", "256:0.02", "256:0.04"],
        metavar="USERS_PER_BATCH:LR",
        help="sampled-step candidates (chosen on validation)",
    )
    args = parser.parse_args()
    load = [round(x, 2) for x in os.getloadavg()]
    grid = [(int(b), float(lr)) for b, lr in (g.split(":") for g in args.grid)]
    rows = [compare(d, args.data_root, grid) for d in args.datasets]
    defaults = Settings()
    out = {"rows": rows, "load_avg_at_start": load, "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
           "softmax_negatives": defaults.softmax_negatives}  # fmt: skip
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
