"""`movierec serving up|down|status|serve`: the BentoML service as a background or foreground process."""

from __future__ import annotations

import typer

from pipelines.settings import get_settings

serving_app = typer.Typer(no_args_is_help=True, help="The BentoML service (page at /ui/).")


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
