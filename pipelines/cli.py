"""`python -m pipelines <command>`: download, ingest, validate, train, evaluate, promote, run (all)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from pipelines.settings import get_settings

STAGE_GROUPS = {
    "validate": ("validate",),
    "train": ("preprocess", "train"),
    "evaluate": ("evaluate",),
    "register": ("register",),
    "promote": ("promote",),
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    dl = sub.add_parser("download", help="download a MovieLens zip from GroupLens (sha256-verified)")
    dl.add_argument("--dataset", default=None)
    ing = sub.add_parser("ingest", help="load a data set and print its shape (checks files and format)")
    ing.add_argument("--dataset", default=None)
    for name in (*STAGE_GROUPS, "run"):
        sp = sub.add_parser(name, help="run all stages" if name == "run" else f"run the {name} stage(s)")
        sp.add_argument("--run-id", default=None, help="pipeline run id (default: a timestamped one for `run`)")
        sp.add_argument("--dataset", default=None)
        sp.add_argument("--model-type", default=None, choices=["neumf", "gmf", "mlp", "mf"])
        sp.add_argument("--epochs", type=int, default=None)
        sp.add_argument("--max-ratings", type=int, default=None)
        sp.add_argument("--split-protocol", default=None, choices=["leave_one_out", "full_ranking"])
        sp.add_argument("--force-promote", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    cfg = get_settings()
    from pipelines.data import DataError, download_movielens, load_movielens
    from pipelines.validation import DataValidationError

    try:
        if args.command == "download":
            print(download_movielens(args.dataset or cfg.dataset, cfg.data_root))
            return 0
        if args.command == "ingest":
            data = load_movielens(cfg.data_root, args.dataset or cfg.dataset)
            print(json.dumps({"dataset": data.name, "ratings": len(data.ratings), "movies": len(data.movies),
                              "users": int(data.ratings.user_id.nunique())}))  # fmt: skip
            return 0
        from pipelines.pipeline import STAGES, run_stage

        params = {"dataset": args.dataset, "model_type": args.model_type, "epochs": args.epochs,
                  "max_ratings": args.max_ratings, "split_protocol": args.split_protocol,
                  "force_promote": args.force_promote}  # fmt: skip
        run_id = args.run_id or (time.strftime("manual__%Y%m%dT%H%M%S") if args.command == "run" else None)
        if run_id is None:
            print("--run-id is required for a single stage (use the id printed by an earlier stage)", file=sys.stderr)
            return 2
        stages = STAGES if args.command == "run" else STAGE_GROUPS[args.command]
        results = {stage: run_stage(stage, run_id, params) for stage in stages}
        print(json.dumps({"run_id": run_id, **results}, indent=2, default=str))
        if args.command == "run":
            _print_where_to_look(cfg, results)
        return 0
    except (DataError, DataValidationError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _print_where_to_look(cfg, results: dict) -> None:
    metrics = results["evaluate"]
    decision = results["promote"]
    print(f"\n{cfg.promotion_metric}: {metrics.get(cfg.promotion_metric):.4f} "
          f"(popularity baseline {metrics.get('popularity_' + cfg.promotion_metric):.4f})")  # fmt: skip
    print(f"model {cfg.model_name} version {results['register']['version']}: "
          f"{'PROMOTED to champion' if decision['promoted'] else 'not promoted'} - {decision['reason']}")
    print(f"MLflow store: {cfg.mlflow_tracking_uri}")
    print(f"  browse it: .venvs/ml/bin/mlflow ui --backend-store-uri {cfg.mlflow_tracking_uri} --port 5000 "
          f"(or `make mlflow-up` / `make up`), experiment '{cfg.mlflow_experiment}'")


if __name__ == "__main__":
    raise SystemExit(main())
