"""`movierec stack|mlflow|demo`: the whole local loop, its MLflow server, and the unattended demo."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from infra.cli.output import emit, fail
from pipelines.settings import PROJECT_ROOT, get_settings

ONLINE_RESULT = PROJECT_ROOT / "benchmarks" / "results" / "online_demo.json"

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
    phase: Annotated[
        str, typer.Option(help="all: the closed loop, then the online A/B test; loop; online")
    ] = "all",
    user_id: int = 1,
    clicks: int = 50,
    conf: Annotated[str, typer.Option(help="retrain DAG conf (Params)")] = '{"force_promote": true}',
    scenario: Annotated[
        str, typer.Option(help="online phase: better (strong challenger) or worse")
    ] = "better",
    requests: Annotated[int, typer.Option(help="online phase: recommendation requests, half per arm")] = 1200,
):
    """On a running stack: like -> gone -> clicks landed -> retrain over REST -> hot-swap; then a simulated
    population A/B-tests a truly better challenger and the online policy decides (benchmarks/results/online_demo.json)."""
    from infra.stack import stack_settings

    if phase not in ("all", "loop", "online"):
        fail(f"--phase must be all, loop or online, got {phase!r}")
    settings, ok = stack_settings(), True
    if phase in ("all", "loop"):
        from infra.demo import run_demo

        result = run_demo(settings, user_id, clicks, json.loads(conf))
        emit(result.__dict__)
        ok = result.disappeared and result.landed == len(result.event_ids) and result.dag_state == "success"
    if phase in ("all", "online") and ok:
        from infra import demo_online

        online = demo_online.run(settings, scenario, requests, out=ONLINE_RESULT)
        print(f"result written to {ONLINE_RESULT}")
        ok = online["wrong_arm"] == 0 and online["landed_complete"]
        ok = ok and online["decision"]["promoted"] == (scenario == "better")
    if not ok:
        raise typer.Exit(1)
