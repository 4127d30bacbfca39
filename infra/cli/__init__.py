"""`movierec`: the one command line of the project (data, pipeline stages, stack, streaming, serving, Airflow).

Every sub-command reads the one Settings object (MOVIEREC_* env vars); options only override it.
"""

from __future__ import annotations

import typer

from infra.cli import airflow, pipeline, serving, stack, streaming
from pipelines.settings import quiet_environment

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.add_typer(pipeline.data_app, name="data")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(streaming.app, name="streaming")
app.add_typer(stack.stack_app, name="stack")
app.add_typer(serving.serving_app, name="serving")
app.add_typer(airflow.airflow_app, name="airflow")
app.add_typer(stack.mlflow_app, name="mlflow")
app.command("demo")(stack.demo)


def main() -> None:
    quiet_environment()  # before any child process starts
    app()
