"""`movierec data ...` and `movierec pipeline ...`: MovieLens files and the training pipeline's stages.

The stage commands' options are generated from `pipelines.settings.training_fields()`, so a new training knob
appears here, in the DAG's form and in MLflow's params without a hand-kept flag list.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import typer

from infra.cli.output import emit, fail
from pipelines.settings import TrainingField, get_settings, training_fields

data_app = typer.Typer(
    no_args_is_help=True, help="MovieLens data: download (online users) and ingest checks."
)
app = typer.Typer(no_args_is_help=True, help="The training pipeline: all stages, or one stage of a run id.")

# CLI command -> the pipeline stages it runs (train includes its preprocessing)
STAGE_GROUPS: dict[str, tuple[str, ...]] = {
    "validate": ("validate",),
    "train": ("preprocess", "train"),
    "evaluate": ("evaluate",),
    "register": ("register",),
    "promote": ("promote",),
}


@data_app.command("download")
def download(
    dataset: Annotated[str | None, typer.Option(help="e.g. ml-latest-small, ml-100k, ml-25m")] = None,
):
    """Download a MovieLens zip from GroupLens (sha256-verified); needs internet."""
    from pipelines.data import DataError, download_movielens

    cfg = get_settings()
    try:
        emit(str(download_movielens(dataset or cfg.dataset, cfg.data_root)))
    except DataError as exc:
        fail(str(exc))


@data_app.command("ingest")
def ingest(dataset: Annotated[str | None, typer.Option(help="folder under the data root")] = None):
    """Load a data set and print its shape (checks files and format)."""
    from pipelines.data import DataError, load_movielens

    cfg = get_settings()
    try:
        data = load_movielens(cfg.data_root, dataset or cfg.dataset)
    except (DataError, FileNotFoundError) as exc:
        fail(str(exc))
    emit({"dataset": data.name, "ratings": len(data.ratings), "movies": len(data.movies),
          "users": int(data.ratings.user_id.nunique())})  # fmt: skip


def _option(field: TrainingField) -> inspect.Parameter:
    """A keyword parameter that Typer turns into `--<field-name>` (None = keep the setting)."""
    kind: Any = str if field.kind is tuple else field.kind
    if field.choices:
        kind = Literal[field.choices]  # Typer shows and checks the choices
    default = ",".join(map(str, field.default)) if field.kind is tuple else field.default
    option = typer.Option(help=f"{field.description} (now {default})", show_default=False)
    return inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[kind | None, option])  # fmt: skip


def _overrides(values: dict[str, Any]) -> dict[str, Any]:
    kinds = {f.name: f.kind for f in training_fields()}
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        out[name] = tuple(int(x) for x in str(value).split(",")) if kinds[name] is tuple else value
    return out


def _run(command: str, run_id: str | None, force_promote: bool, overrides: dict[str, Any]) -> None:
    from pipelines.data import DataError
    from pipelines.pipeline import STAGES, run_stage
    from pipelines.validation import DataValidationError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_id = run_id or (time.strftime("manual__%Y%m%dT%H%M%S") if command == "run" else None)
    if run_id is None:
        fail("--run-id is required for a single stage (use the id printed by an earlier stage)", code=2)
    params = {**overrides, "force_promote": force_promote}
    stages = STAGES if command == "run" else STAGE_GROUPS[command]
    try:
        results = {stage: run_stage(stage, run_id, params) for stage in stages}
    except (DataError, DataValidationError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    emit({"run_id": run_id, **results})
    if command == "run":
        _print_where_to_look(results)


def _print_where_to_look(results: dict) -> None:
    cfg = get_settings()
    metric = cfg.promotion_metric
    metrics, decision = results["evaluate"], results["promote"]
    typer.echo(
        f"\n{metric}: {metrics.get(metric):.4f} (popularity baseline {metrics.get('popularity_' + metric):.4f})"
    )
    verdict = "PROMOTED to champion" if decision["promoted"] else "not promoted"
    typer.echo(
        f"model {cfg.model_name} version {results['register']['version']}: {verdict} - {decision['reason']}"
    )
    typer.echo(f"MLflow store: {cfg.mlflow_tracking_uri}  (browse: `movierec mlflow up` or `make up`, "
               f"experiment '{cfg.mlflow_experiment}')")  # fmt: skip


def _stage_command(command: str) -> Callable[..., None]:
    def handler(**kwargs: Any) -> None:
        run_id, force_promote = kwargs.pop("run_id"), kwargs.pop("force_promote")
        _run(command, run_id, force_promote, _overrides(kwargs))

    fixed = [
        inspect.Parameter("run_id", inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=Annotated[str | None, typer.Option(help="pipeline run id (stages share it)")]),
        inspect.Parameter("force_promote", inspect.Parameter.KEYWORD_ONLY, default=False,
                          annotation=Annotated[bool, typer.Option(help="promote even if the challenger is not better")]),
    ]  # fmt: skip
    params = fixed + [_option(f) for f in training_fields()]
    handler.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    handler.__annotations__ = {p.name: p.annotation for p in params}
    handler.__doc__ = "Run every stage: validate -> ... -> promote." if command == "run" else (
        f"Run the {' + '.join(STAGE_GROUPS[command])} stage(s) of --run-id.")  # fmt: skip
    return handler


for _command in ("run", *STAGE_GROUPS):
    app.command(_command)(_stage_command(_command))
