"""Run in the Airflow env: import every DAG file, print facts about it as JSON (for test_dag_integrity).

Kept as a script (not imported by pytest) because Airflow lives in its own env.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HEAVY = ("tensorflow", "keras", "mlflow", "pandas", "great_expectations", "sklearn", "bentoml", "numpy")


def _expression(timetable: object) -> str | None:
    """The cron expression of a cron timetable, also inside an asset-or-time schedule."""
    inner = getattr(timetable, "timetable", timetable)
    return getattr(inner, "_expression", None) or getattr(inner, "expression", None)


def main(dags_folder: str) -> None:
    started = time.perf_counter()
    import importlib.util

    import airflow.sdk  # noqa: F401 - the framework's own import cost is not the DAG file's

    import pipelines.settings  # noqa: F401

    framework_seconds = time.perf_counter() - started
    file_imports, modules = {}, {}
    for path in sorted(Path(dags_folder).glob("*.py")):
        t = time.perf_counter()
        spec = importlib.util.spec_from_file_location(f"probe_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        file_imports[path.name] = round(time.perf_counter() - t, 3)
        modules[path.stem] = module
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dags_folder)
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "schedule": _expression(dag.timetable),
            "schedule_repr": repr(dag.timetable),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "params": {k: dag.params.get_param(k).resolve() for k in dag.params},
            "param_schemas": {k: dag.params.get_param(k).schema for k in dag.params},
            "doc_md": bool(dag.doc_md),
            "tasks": {
                t.task_id: {
                    "owner": t.owner,
                    "retries": t.retries,
                    "upstream": sorted(t.upstream_task_ids),
                    "operator": type(t).__name__,
                    "python": str(getattr(t, "python", "")),
                    "expect_airflow": getattr(t, "expect_airflow", None),
                    "outlets": [getattr(a, "name", str(a)) for a in t.outlets],
                    "inlets": [getattr(a, "name", str(a)) for a in t.inlets],
                    "retry_policy": type(t.retry_policy).__name__ if t.retry_policy is not None else None,
                }
                for t in dag.tasks
            },
        }
    module = modules.get("movielens_retrain")
    overrides = None
    if module is not None:
        overrides = json.loads(
            module.stage_overrides(
                {"dataset": "ml-100k", "epochs": 3, "max_ratings": None, "force_promote": True,
                 "settings_overrides": {"embedding_dim": 4}},
                "movielens_retrain", "manual__2026-01-01T00:00:00+00:00", None,
            )
        )  # fmt: skip
        overrides["path_safe"] = module.path_safe("manual__2026-01-01T00:00:00+00:00")
        policy = module.FailFastOnBadData()
        overrides["policy_on_bad_data"] = policy.evaluate(
            RuntimeError(
                "Process returned non-zero exit status 1.\n[bad-data] validate: feedback: 1 expectation(s) failed"
            ),
            1,
            3,
        ).action.value
        overrides["policy_on_other_errors"] = policy.evaluate(
            RuntimeError("connection refused"), 1, 3
        ).action.value
    print(json.dumps({
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "framework_import_seconds": round(framework_seconds, 3),
        "file_import_seconds": file_imports,
        "heavy_modules": heavy,
        "dags": dags,
        "stage_overrides_example": overrides,
        "total_seconds": round(time.perf_counter() - started, 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1])
