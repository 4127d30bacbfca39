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


PROFILES = ("embedded", "cluster")
ProfileOption = Annotated[
    str,
    typer.Option(
        help="embedded: one process per component; cluster: Flink session cluster, PostgreSQL, S3, replicas"
    ),
]


def _stack(action: str, profile: str = "embedded") -> None:
    from infra import stack

    if profile == "all" and action in ("down", "status"):
        for each in PROFILES:
            typer.echo(f"--- {each} profile")
            _stack(action, each)
        return
    if profile not in PROFILES:
        fail(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    if profile == "cluster":
        from infra.cluster import profile as module

        settings = module.cluster_settings()
    else:
        module, settings = stack, stack.stack_settings()
    try:
        getattr(module, action)(settings)
    except Exception as exc:  # noqa: BLE001 - a start failure: say which, stop what we started
        if action == "up" and not isinstance(exc, stack.StackError):
            typer.echo(f"stopping what was started (movierec stack down --profile {profile}) ...", err=True)
            module.down(settings)
        fail(str(exc))


@stack_app.command("up")
def stack_up(profile: ProfileOption = "embedded"):
    """Start the whole loop, train a first champion if needed, print the addresses."""
    _stack("up", profile)


@stack_app.command("down")
def stack_down(profile: ProfileOption = "all"):
    """Stop exactly what `stack up` started (PID files under var/pids, var/cluster/pids); default: both profiles."""
    _stack("down", profile)


@stack_app.command("status")
def stack_status(profile: ProfileOption = "embedded"):
    _stack("status", profile)


@stack_app.command("logs")
def stack_logs(profile: ProfileOption = "embedded"):
    """Tail the stack's logs (var/logs, var/cluster/logs)."""
    _stack("logs", profile)


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
