"""Retrain benchmark: wall time of the full `movielens_retrain` DAG, split by task, per data set and feedback size.

For each data set (default ml-latest-small and ml-100k under ../shared/data/movielens) one migrated
AIRFLOW_HOME and one var/ folder (MLflow store, watermark) are created under --out; then the DAG is run with
`airflow dags test` (every task in its own ML-env interpreter, exactly as tests/airflow does) once without
feedback and once after landing 1x, 2x, 4x synthetic click events in the landed format (docs/streaming.md:
JSON lines under feedback_dir/dt=YYYY-MM-DD/, fresh event ids, so each run reads only its own batch).
Task durations come from the Airflow metadata DB (task_instance.duration).

    .venvs/ml/bin/python benchmarks/retrain.py --epochs 3 --feedback-unit 10000 --scales 0,1,2,4

Bounded: each DAG run has a timeout (--run-timeout); results go to <out>/retrain.json and a markdown table
on stdout. Loopback only (no server is started; `dags test` runs in-process).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.dag_runs import RETRAIN_TASKS, AirflowHome, dags_test, new_airflow_home  # noqa: E402
from infra.processes import free_port  # noqa: E402
from pipelines.landed import write_part_file  # noqa: E402
from pipelines.settings import OFFLINE_DATA_ROOT, PROJECT_ROOT, Settings  # noqa: E402

FILE_EVENTS = 5000  # events per landed part file


def synthetic_feedback(settings: Settings, count: int, rng: np.random.Generator) -> list[dict]:
    """`count` valid click events on known users and movies of the data set, in the landed format."""
    from pipelines.data import load_movielens

    data = load_movielens(settings.data_root, settings.dataset)
    users = data.ratings.user_id.unique()
    movies = data.movies.item_id.to_numpy()
    now_ms = int(time.time() * 1000)
    u, m = rng.choice(users, count), rng.choice(movies, count)
    return [{"schema_version": 1, "event_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
             "user_id": int(u[i]), "movie_id": int(m[i]), "event": ("click", "like", "watch")[i % 3],
             "ts": now_ms - 60_000 + i % 60_000, "source": "bench", "kafka_partition": i % 3, "kafka_offset": i}
            for i in range(count)]  # fmt: skip


def home_for(root: Path, dataset: str, data_root: Path) -> AirflowHome:
    settings = Settings(var_dir=root / dataset / "var", data_root=data_root, dataset=dataset)
    return new_airflow_home(root / dataset / "airflow_home", settings, port=free_port())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="ml-latest-small,ml-100k")
    ap.add_argument("--data-root", type=Path, default=OFFLINE_DATA_ROOT)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--feedback-unit", type=int, default=10_000, help="events landed for 1x")
    ap.add_argument("--scales", default="0,1,2,4", help="feedback multiples, one DAG run each")
    ap.add_argument("--run-timeout", type=float, default=1200)
    ap.add_argument("--out", type=Path, default=PROJECT_ROOT / "var" / "bench-retrain")
    args = ap.parse_args(argv)
    for key in [k for k in os.environ if k.startswith("MOVIEREC_")]:
        os.environ.pop(key)  # airflow_env forwards the caller's MOVIEREC_*: keep the benchmark's own
    stamp = time.strftime("%Y%m%dT%H%M%S")
    args.out = args.out.resolve()  # Airflow needs an absolute sqlite path
    root = args.out / stamp
    rng = np.random.default_rng(7)
    rows = []
    for dataset in args.datasets.split(","):
        ah = home_for(root, dataset, args.data_root)
        for scale in (int(s) for s in args.scales.split(",")):
            events = scale * args.feedback_unit
            if events:
                batch = synthetic_feedback(ah.settings, events, rng)
                run_tag = uuid.uuid4().hex[:8]
                for i in range(0, events, FILE_EVENTS):
                    write_part_file(
                        ah.settings.feedback_dir,
                        f"compacted-part-{run_tag}-0-{i // FILE_EVENTS}",
                        batch[i : i + FILE_EVENTS],
                    )
            load = os.getloadavg()[0]
            run = dags_test(ah, {"dataset": dataset, "epochs": args.epochs}, timeout=args.run_timeout)
            row = {"dataset": dataset, "feedback_scale": scale, "feedback_events": events, "epochs": args.epochs,
                   "returncode": run.returncode, "wall_s": round(run.seconds, 1), "load_avg_1m_at_start": load,
                   "states": run.states, "durations_s": {t: round(d or 0, 1) for t, d in run.durations.items()}}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
            (args.out / "retrain.json").write_text(json.dumps({
                "started": stamp, "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                "args": {k: str(v) for k, v in vars(args).items()}, "runs": rows}, indent=2))  # fmt: skip
    cols = RETRAIN_TASKS
    print("\n| dataset | feedback | DAG wall s | " + " | ".join(cols) + " | load |")
    print("|---|---|---|" + "---|" * len(cols) + "---|")
    for r in rows:
        ok = "" if r["returncode"] == 0 else " (FAILED)"
        print(f"| {r['dataset']} | {r['feedback_scale']}x ({r['feedback_events']:,}) | {r['wall_s']}{ok} | "
              + " | ".join(str(r["durations_s"].get(c, "-")) for c in cols) + f" | {r['load_avg_1m_at_start']:.1f} |")  # fmt: skip
    return 0 if all(r["returncode"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
