"""How every sub-command prints its result: JSON on stdout, errors as one line on stderr with exit code 1."""

from __future__ import annotations

import json

import typer


def emit(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=1, default=str))


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
