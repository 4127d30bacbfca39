"""`movierec stack|mlflow|demo`: the whole local loop, its MLflow server, and the unattended demo."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from infra.cli.output import emit, fail
from pipelines.settings import get_settings

stack_app = typer.Typer(
    no_args_is_help=True, help="The whole local loop (broker, Flink job, MLflow, Airflow, service)."
)
mlflow_app = typer.Typer(no_args_is_help=True, help="The local MLflow tracking server.")


def _stack(action: str) -> None:
    from infra import stack

    settings = stack.stack_settings()
    try:
        getattr(stack, action)(settings)
    except Exception as exc:  # noqa: BLE001 - a start failure: say which, stop what we started
        if action == "up" and not isinstance(exc, stack.StackError):
            typer.echo("stopping what was started (movierec stack down) ...", err=True)
            stack.down(settings)
        fail(str(exc))


@stack_app.command("up")
def stack_up():
    """Start the whole loop, train a first champion if needed, print the addresses."""
    _stack("up")


@stack_app.command("down")
def stack_down():
    """Stop exactly what `stack up` started (PID files under var/pids)."""
    _stack("down")


@stack_app.command("status")
def stack_status():
    _stack("status")


@stack_app.command("logs")
def stack_logs():
    """Tail the stack's logs (var/logs)."""
    _stack("logs")


@mlflow_app.command("up")
def mlflow_up():
    """The MLflow tracking server (127.0.0.1:5000 by default)."""
    from infra import mlflow_server

    emit(mlflow_server.start(get_settings()))


@mlflow_app.command("down")
def mlflow_down():
    from infra import mlflow_server

    mlflow_server.stop(get_settings())


def demo(
    user_id: int = 1,
    clicks: int = 50,
    conf: Annotated[str, typer.Option(help="retrain DAG conf (Params)")] = '{"force_promote": true}',
):
    """On a running stack: like -> gone from the list -> clicks landed -> retrain over REST -> hot-swap."""
    from infra.demo import run_demo
    from infra.stack import stack_settings

    result = run_demo(stack_settings(), user_id, clicks, json.loads(conf))
    emit(result.__dict__)
    ok = result.disappeared and result.landed == len(result.event_ids) and result.dag_state == "success"
    if not ok:
        raise typer.Exit(1)
