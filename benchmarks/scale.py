"""Scale run: the whole pipeline on synthetic MovieLens-shaped data sets of 1M, 5M and 25M ratings.

Per size: generate the data set once (pipelines.synthetic, ml-25m format, under var/data-synthetic/), then run
validate -> preprocess -> train -> evaluate -> register -> promote -> serving bundle load -> first request,
each stage in its own interpreter (as the DAG's tasks run), recording wall time and peak RSS of that
interpreter's process tree (psutil, sampled every 0.2 s). Default model and epochs unless overridden.

    .venvs/ml/bin/python benchmarks/scale.py --sizes 1000000 5000000 25000000
    .venvs/ml/bin/python benchmarks/scale.py --sizes 5000000 --dag   # the DAG itself: `airflow dags test`

Writes benchmarks/results/scale.json: {"runs": [{"ratings": N, "stages": {"<stage>": {"seconds", "peak_rss_mb"}}}]}
(a run that failed or was cut by --budget-s names the stage and why). A data set generated earlier keeps its
generation time in generated.json beside it. --dag runs `airflow dags test movielens_retrain` on each size in a
fresh AIRFLOW_HOME (infra.dag_runs, as tests/airflow) and records the per-task times under "dag_runs".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.pipeline import STAGES  # noqa: E402
from pipelines.settings import PROJECT_ROOT, QUIET_ENV  # noqa: E402
from pipelines.synthetic import generate  # noqa: E402

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "scale.json"
LAST_CPU = [0.0]  # CPU seconds of the last measured stage
DAG_PORT = 19400  # only fills the Airflow config: `dags test` starts no server
STAGE_CODE = (
    "import json, sys; from pipelines.pipeline import run_stage; "
    "print('RESULT ' + json.dumps(run_stage(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])), default=str))"
)
SERVE_CODE = """
import json, time
t0 = time.perf_counter()
from pipelines.registry import load_champion
from pipelines.settings import get_settings
champion = load_champion(get_settings())
t1 = time.perf_counter()
rec = champion.recommender
user = int(rec.maps.user_ids[0])
items = rec.top_k(user, 10)
t2 = time.perf_counter()
print('RESULT ' + json.dumps({"bundle_load_s": t1 - t0, "first_request_s": t2 - t1, "items": len(items)}))
"""


def cpu_of_children() -> float:
    """User + system CPU seconds of this process's waited-for children (a shared box: CPU vs wall shows the load)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_measured(args: list[str], env: dict[str, str], timeout: float) -> tuple[float, float, str, int]:
    """(seconds, peak RSS MB of the process tree, stdout tail, return code); CPU seconds in LAST_CPU[0]."""
    started, cpu_before = time.perf_counter(), cpu_of_children()
    proc = subprocess.Popen(
        args, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak = [0]

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    watcher.join()
    LAST_CPU[0] = round(cpu_of_children() - cpu_before, 1)
    return time.perf_counter() - started, peak[0] / 2**20, out[-4000:], proc.returncode


def result_line(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][7:]) if lines else {}


def ensure_data(n: int, out: Path) -> dict:
    """Generate the data set once; its generation time is kept in generated.json beside it."""
    record = out / "generated.json"
    if not (out / "ratings.csv").exists():
        started, load = time.perf_counter(), [round(x, 2) for x in os.getloadavg()]
        generate(n, out, seed=0)
        record.write_text(json.dumps({"seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": None,
                                      "load_avg_at_start": load}))  # fmt: skip
    return json.loads(record.read_text()) if record.exists() else {"seconds": None, "peak_rss_mb": None}


def run_dag(n: int, root: Path, overrides: dict, timeout_s: float) -> dict:
    """`airflow dags test movielens_retrain` on the size's data set: wall time and each task's duration."""
    from infra.dag_runs import dags_test, new_airflow_home
    from pipelines.settings import Settings

    name = f"synthetic-{n}"
    stage_seconds = {"generate": ensure_data(n, root / "data" / name)}
    settings = Settings(var_dir=root / f"dag-var-{n}", data_root=root / "data", dataset=name)
    load = [round(x, 2) for x in os.getloadavg()]
    home = new_airflow_home(root / f"dag-airflow-{n}", settings, DAG_PORT, overrides)
    run = dags_test(home, {}, timeout=timeout_s)
    log = root / f"dag-airflow-{n}" / "dags-test.log"  # the task logs: `dags test` only prints them
    log.write_text(run.output)
    tasks = {t: round(d, 1) if d is not None else None for t, d in run.durations.items()}
    print(f"{n:>10,} dags test {run.seconds:8.1f} s rc={run.returncode} {tasks}", flush=True)
    return {"ratings": n, "kind": "dag", "seconds": round(run.seconds, 1), "returncode": run.returncode,
            "states": run.states, "tasks": tasks, "overrides": overrides, "load_avg_at_start": load,
            "load_avg_at_end": [round(x, 2) for x in os.getloadavg()], **stage_seconds, "log": os.path.relpath(log, PROJECT_ROOT),
            **({} if run.returncode == 0 else {"output_tail": run.output[-1500:]})}  # fmt: skip


def save(key: str, run: dict, overrides: dict) -> None:
    """Replace this size's (and settings') entry of `key` in scale.json, re-read first: runs may overlap."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": []}
    same = (run["ratings"], json.dumps(overrides, sort_keys=True))
    kept = [
        r
        for r in results.get(key, [])
        if (r["ratings"], json.dumps(r.get("overrides", {}), sort_keys=True)) != same
    ]
    results[key] = sorted([*kept, run], key=lambda r: r["ratings"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


def run_size(n: int, root: Path, overrides: dict, budget_s: float) -> dict:
    data_root = root / "data"
    name = f"synthetic-{n}"
    stages: dict[str, dict] = {}
    stages["generate"] = ensure_data(n, data_root / name)
    env = {**os.environ, **QUIET_ENV, "MOVIEREC_DATA_ROOT": str(data_root), "MOVIEREC_DATASET": name,
           "MOVIEREC_VAR_DIR": str(root / f"var-{n}"), "PYTHONPATH": str(PROJECT_ROOT)}  # fmt: skip
    run_id, py, deadline = f"scale-{n}", sys.executable, time.monotonic() + budget_s
    load_at_start = [round(x, 2) for x in os.getloadavg()]  # a shared 2-core machine: say how busy it was
    outputs: dict[str, dict] = {}
    for stage in STAGES:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return {
                "ratings": n,
                "stages": stages,
                "overrides": overrides,
                "incomplete": f"budget exhausted before {stage}",
            }
        seconds, rss, out, code = run_measured(
            [py, "-c", STAGE_CODE, stage, run_id, json.dumps(overrides)], env, remaining
        )
        stages[stage] = {"seconds": round(seconds, 1), "peak_rss_mb": round(rss), "cpu_seconds": LAST_CPU[0]}
        print(f"{n:>10,} {stage:<12} {seconds:8.1f} s {rss:8.0f} MB", flush=True)
        if code != 0:
            return {
                "ratings": n,
                "stages": stages,
                "incomplete": f"{stage} failed (exit {code}): {out[-1500:]}",
            }
        outputs[stage] = result_line(out)
    seconds, rss, out, code = run_measured([py, "-c", SERVE_CODE], env, max(deadline - time.monotonic(), 60))
    serve = result_line(out)
    if code != 0 or not serve:
        return {"ratings": n, "stages": stages, "incomplete": f"serving load failed: {out[-1500:]}"}
    stages["serving_bundle_load"] = {"seconds": round(serve["bundle_load_s"], 1), "peak_rss_mb": round(rss)}
    stages["first_request"] = {"seconds": round(serve["first_request_s"], 3), "peak_rss_mb": round(rss)}
    print(
        f"{n:>10,} serving load {serve['bundle_load_s']:8.1f} s, first request {serve['first_request_s']:.3f} s"
    )
    validate, evaluate = outputs.get("validate", {}), outputs.get("evaluate", {})
    return {"ratings": n, "users": validate.get("users"), "movies": validate.get("movies"), "stages": stages,
            "total_seconds": round(sum(s["seconds"] for k, s in stages.items() if k != "generate"), 1),
            "peak_rss_mb": max(s["peak_rss_mb"] or 0 for s in stages.values()),
            "ndcg_at_10": evaluate.get("ndcg_at_10"), "popularity_ndcg_at_10": evaluate.get("popularity_ndcg_at_10"),
            "eval_users": evaluate.get("eval_users"), "overrides": overrides,
            "load_avg_at_start": load_at_start, "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 25_000_000])
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT / "var" / "bench-scale")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="Settings overrides (JSON values)"
    )
    parser.add_argument(
        "--budget-s", type=float, default=45 * 60, help="per size; the target for 25M is 45 min"
    )
    parser.add_argument(
        "--dag", action="store_true", help="run `airflow dags test` of the retrain DAG instead"
    )
    args = parser.parse_args()
    overrides = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    for n in args.sizes:
        if args.dag:
            save("dag_runs", run_dag(n, args.root, overrides, args.budget_s), overrides)
            continue
        run = run_size(n, args.root, overrides, args.budget_s)
        save("runs", run, overrides)
        print(json.dumps(run, indent=1))


if __name__ == "__main__":
    main()
