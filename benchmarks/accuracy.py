"""Accuracy benchmark: NeuMF / GMF / MLP / MF / popularity on MovieLens, both protocols, mean and spread over seeds.

    .venvs/ml/bin/python benchmarks/accuracy.py --datasets ml-100k ml-latest-small --seeds 3

Prints one row per (dataset, protocol, model) and appends a Markdown table to benchmarks/results/accuracy.md.
Anchors: microsoft/recommenders ml-100k (full ranking, 75/25 per-user split, top-10, seen removed):
NCF NDCG@10 0.37-0.40, BPR 0.445, BiVAE 0.469, SAR 0.39; He et al. 2017 ML-1M leave-one-out NeuMF HR@10 0.730 / NDCG@10 0.447.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import time
from datetime import date
from pathlib import Path

from pipelines.data import load_movielens
from pipelines.evaluate import evaluate
from pipelines.features import IdMaps, full_ranking_split, leave_one_out_split, to_implicit
from pipelines.models import KerasScorer
from pipelines.settings import Settings
from pipelines.train import popularity_scorer, train_model

RESULTS = Path(__file__).resolve().parent / "results" / "accuracy.md"
# Per-model settings found with a small sweep on ml-100k (see README); shared by both protocols.
MODEL_CONFIG = {
    "neumf": {
        "loss": "bce",
        "embedding_dim": 32,
        "mlp_layers": (64, 32, 16),
        "learning_rate": 0.001,
        "epochs": 10,
    },
    "gmf": {"loss": "bce", "embedding_dim": 32, "learning_rate": 0.002, "epochs": 10},
    "mlp": {"loss": "bce", "mlp_layers": (64, 32, 16), "learning_rate": 0.001, "epochs": 10},
    "mf": {"loss": "bce", "embedding_dim": 64, "learning_rate": 0.002, "epochs": 10, "l2": 1e-5},
}
# loss=softmax: chosen on a validation split carved from the train part of split seed 100 (never a reported seed's
# test set): ranking_l2 in {0.05, 0.1, 0.15, 0.3}, lr in {0.005, 0.01}, epochs from the validation curve.
SOFTMAX_CONFIG = {
    "neumf": {
        "loss": "softmax",
        "embedding_dim": 32,
        "mlp_layers": (64, 32, 16),
        "learning_rate": 0.005,
        "epochs": 20,
        "ranking_l2": 0.1,
    },
    "gmf": {"loss": "softmax", "embedding_dim": 32, "learning_rate": 0.01, "epochs": 10, "ranking_l2": 0.1},
    "mlp": {
        "loss": "softmax",
        "mlp_layers": (64, 32, 16),
        "learning_rate": 0.01,
        "epochs": 12,
        "ranking_l2": 0.1,
    },
    "mf": {"loss": "softmax", "embedding_dim": 64, "learning_rate": 0.01, "epochs": 15, "ranking_l2": 0.1},
}
CONFIGS = {"bce": MODEL_CONFIG, "softmax": SOFTMAX_CONFIG}


def validation_split(split, n_items: int, seed: int):
    """Carve a validation split out of split.train with the same protocol (hyper-parameter search never sees test)."""
    train = split.train
    if split.protocol == "leave_one_out":
        return leave_one_out_split(train, n_items, 99, seed=seed + 1000)
    return full_ranking_split(train, 0.75, seed=seed + 1000)


def run(datasets: list[str], protocols: list[str], models: list[str], seeds: int, data_root: Path,
        first_seed: int = 0, validation: bool = False, overrides: dict | None = None,
        loss: str = "bce") -> list[dict]:  # fmt: skip
    rows = []
    for dataset in datasets:
        data = load_movielens(data_root, dataset)
        interactions = to_implicit(data.ratings)
        maps = IdMaps.fit(interactions)
        encoded = maps.encode(interactions)
        for protocol in protocols:
            per_model: dict[str, list[dict]] = {}
            for seed in range(first_seed, first_seed + seeds):
                if protocol == "leave_one_out":
                    split = leave_one_out_split(encoded, maps.n_items, 99, seed=seed)
                else:
                    split = full_ranking_split(encoded, 0.75, seed=seed)
                if validation:
                    split = validation_split(split, maps.n_items, seed)
                per_model.setdefault("popularity", []).append(
                    {
                        **evaluate(popularity_scorer(split, maps.n_items), split, maps.n_users, maps.n_items),
                        "train_s": 0.0,
                    }
                )
                for model in models:
                    # held-out metrics only after the last epoch, so train_s is (nearly all) training
                    cfg = Settings(
                        model_type=model,
                        seed=seed,
                        **{"eval_every": 1000, **CONFIGS[loss][model], **(overrides or {})},
                    )
                    result = train_model(split, maps.n_users, maps.n_items, cfg)
                    m = evaluate(KerasScorer(result.model), split, maps.n_users, maps.n_items)
                    per_model.setdefault(model, []).append({**m, "train_s": result.train_seconds})
                    print(f"{dataset} {protocol} {model} seed={seed}: "
                          + ", ".join(f"{k}={v:.4f}" for k, v in m.items()) + f", train_s={result.train_seconds:.1f}",
                          flush=True)  # fmt: skip
            for model, runs in per_model.items():
                row = {"dataset": dataset, "protocol": protocol, "model": model, "seeds": len(runs)}
                for key in runs[0]:
                    values = [r[key] for r in runs]
                    row[key] = (statistics.mean(values), statistics.pstdev(values))
                rows.append(row)
    return rows


def to_markdown(rows: list[dict], command: str) -> str:
    lines = [f"\n## {date.today().isoformat()} - {platform.node()} ({platform.processor() or platform.machine()})",
             f"`{command}`\n"]  # fmt: skip
    for protocol, keys in (("leave_one_out", ["hr_at_10", "ndcg_at_10"]),
                           ("full_ranking", ["precision_at_10", "recall_at_10", "ndcg_at_10", "map_at_10"])):  # fmt: skip
        subset = [r for r in rows if r["protocol"] == protocol]
        if not subset:
            continue
        lines.append("| dataset | protocol | model | " + " | ".join(keys) + " | train s |")
        lines.append("|---" * (len(keys) + 4) + "|")
        for r in subset:
            cells = [f"{r[k][0]:.4f} ± {r[k][1]:.4f}" for k in keys]
            lines.append(f"| {r['dataset']} | {protocol} | {r['model']} | " + " | ".join(cells)
                         + f" | {r['train_s'][0]:.1f} |")  # fmt: skip
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "ml-latest-small"])
    parser.add_argument("--protocols", nargs="+", default=["leave_one_out", "full_ranking"])
    parser.add_argument("--models", nargs="+", default=["neumf", "gmf", "mlp", "mf"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--loss", choices=sorted(CONFIGS), default="bce", help="Which per-model config set")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="Seeds first_seed .. first_seed + seeds - 1"
    )
    parser.add_argument(
        "--validation",
        action="store_true",
        help="Evaluate on a validation split carved from each split's train part (for tuning)",
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=None,
        metavar="KEY=VALUE",
        help="Settings overrides for every model, e.g. loss=softmax epochs=30",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data_root = args.data_root or Settings().data_root
    started = time.perf_counter()
    overrides = dict(kv.split("=", 1) for kv in args.set or [])
    rows = run(args.datasets, args.protocols, args.models, args.seeds, data_root, args.first_seed, args.validation,
               overrides, args.loss)  # fmt: skip
    command = "benchmarks/accuracy.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items() if v not in (None, False))  # fmt: skip
    table = to_markdown(rows, command)
    print(table)
    print(f"total {time.perf_counter() - started:.0f}s")
    if args.validation:
        return  # tuning runs are not results
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(table + "\n")


if __name__ == "__main__":
    main()
