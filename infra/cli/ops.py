"""`movierec stack|serving|airflow|mlflow|demo`: start, stop and inspect the local loop's processes."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated

import typer

from infra.cli.output import emit, fail
from pipelines.settings import get_settings

stack_app = typer.Typer(
    no_args_is_help=True, help="The whole local loop (broker, Flink job, MLflow, Airflow, service)."
)
serving_app = typer.Typer(no_args_is_help=True, help="The BentoML service (page at /ui/).")
airflow_app = typer.Typer(
    no_args_is_help=True, help="Local Airflow (api-server, scheduler, dag-processor, triggerer)."
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


@serving_app.command("up")
def serving_up():
    """Start the service in the background and wait until it answers."""
    from infra.serving_process import readyz, serving_process

    settings = get_settings()
    proc = serving_process(settings)
    pid = proc.start(timeout=180)
    address = f"http://{settings.serving_host}:{settings.serving_port}"
    typer.echo(f"serving pid {pid} on {address} (log {proc.log_file})")
    typer.echo(f"  page: {address}/ui/   readyz: {readyz(settings)}")


@serving_app.command("down")
def serving_down():
    from infra.serving_process import serving_process

    typer.echo("stopped" if serving_process(get_settings()).stop() else "not running")


@serving_app.command("status")
def serving_status():
    from infra.serving_process import readyz, serving_process

    settings = get_settings()
    pid = serving_process(settings).pid()
    typer.echo(f"serving: {'pid ' + str(pid) if pid else 'not running'}; {readyz(settings) if pid else ''}")


@serving_app.command("serve")
def serving_serve():
    """Run the service in the foreground (Ctrl-C stops it)."""
    import os

    from infra.serving_process import serve_command

    command = serve_command(get_settings())
    os.execv(command[0], command)


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
    from infra.trigger_dag import AirflowClient, wait_for_run

    settings = get_settings()
    password = json.loads((password_file or default_password_file(settings.airflow_home)).read_text())[
        username
    ]
    client = AirflowClient(url or f"http://127.0.0.1:{settings.airflow_port}", username, password)
    client.unpause(dag_id)
    run_id = client.trigger(dag_id, json.loads(conf))
    typer.echo(f"triggered {dag_id} run {run_id}")
    if not wait:
        return
    state = wait_for_run(client, dag_id, run_id, timeout)
    typer.echo(f"run {run_id}: {state}")
    for ti in sorted(client.task_instances(dag_id, run_id), key=lambda t: t.get("start_date") or "~"):
        duration = ti.get("duration")
        took = f"{duration:7.1f}s" if isinstance(duration, (int, float)) else "      -"
        typer.echo(f"  {ti['task_id']:<16} {ti['state'] or '-':<16} {took}")
    decision = client.xcom(dag_id, run_id, "promote")
    if decision is not None:
        typer.echo(f"promote decision: {json.dumps(decision, default=str)}")
    if state != "success":
        raise typer.Exit(1)


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
