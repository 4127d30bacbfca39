"""`movierec airflow ...`: the local Airflow, a DAG test run, and triggering a DAG over the REST API."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated

import typer

from infra.cli.output import emit, fail
from pipelines.settings import get_settings

airflow_app = typer.Typer(
    no_args_is_help=True, help="Local Airflow (api-server, scheduler, dag-processor, triggerer)."
)


@airflow_app.command("up")
def airflow_up(timeout: Annotated[float, typer.Option(help="seconds to wait for readiness")] = 180.0):
    from infra import airflow

    airflow.up(get_settings(), timeout)


@airflow_app.command("down")
def airflow_down():
    from infra import airflow

    airflow.down(get_settings())


@airflow_app.command("status")
def airflow_status():
    from infra import airflow

    settings = get_settings()
    proc = airflow.airflow_process(settings)
    emit({"pid": proc.pid(), "health": airflow.health(settings.airflow_port)})
    if not proc.running():
        raise typer.Exit(1)


@airflow_app.command("env")
def airflow_env():
    """Shell exports for a shell that talks to the local Airflow: eval "$(movierec airflow env)"."""
    from infra import airflow

    for key, value in airflow.airflow_env(get_settings()).items():
        typer.echo(f"export {key}={shlex.quote(value)}")


@airflow_app.command("password")
def airflow_password():
    """The generated admin password of the UI (user admin)."""
    from infra import airflow

    typer.echo(airflow.admin_password(get_settings().airflow_home))


@airflow_app.command("migrate")
def airflow_migrate():
    from infra import airflow

    settings = get_settings()
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    result = airflow.run_airflow(settings, ["db", "migrate"], airflow.airflow_env(settings))
    typer.echo(result.stdout[-2000:])
    if result.returncode:
        fail(result.stderr[-2000:], result.returncode)


@airflow_app.command("dags-test")
def airflow_dags_test(conf: Annotated[str, typer.Option(help="JSON run conf (the DAG's Params)")] = "{}",
                      dag_id: str = "movielens_retrain"):  # fmt: skip
    """Run a DAG once in-process (`airflow dags test`, no scheduler)."""
    from infra import airflow

    settings = get_settings()
    env = airflow.airflow_env(settings)
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    airflow.run_airflow(settings, ["db", "migrate"], env)
    code = airflow.run_airflow(settings, ["dags", "test", dag_id, "-c", conf], env, capture=False).returncode
    raise typer.Exit(code)


@airflow_app.command("trigger")
def airflow_trigger(
    dag_id: Annotated[str, typer.Argument()] = "movielens_retrain",
    conf: Annotated[str, typer.Option(help="JSON run conf (the DAG's Params)")] = "{}",
    url: Annotated[str | None, typer.Option(help="default: the local Airflow")] = None,
    username: str = "admin",
    password_file: Path | None = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the run")] = 3600.0,
    wait: Annotated[bool, typer.Option(help="wait for the run and print task states")] = True,
):
    """Trigger a DAG run over the REST API and (by default) wait, printing task states and the decision."""
    from infra.airflow import password_file as default_password_file
    from infra.trigger_dag import trigger_and_report

    settings = get_settings()
    state = trigger_and_report(
        url or f"http://127.0.0.1:{settings.airflow_port}",
        password_file or default_password_file(settings.airflow_home),
        dag_id, json.loads(conf), timeout, wait, username,
    )  # fmt: skip
    if wait and state != "success":
        raise typer.Exit(1)
