"""FastAPI dependencies shared by the routers: the replica's runtime."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from serving.runtime import ServingRuntime


def get_runtime(request: Request) -> ServingRuntime:
    """The ServingRuntime the service (or a test) put on `app.state`; 503 until it exists."""
    runtime = request.app.state.runtime
    if runtime is None:
        raise HTTPException(503, "service is starting")
    return runtime


Runtime = Annotated[ServingRuntime, Depends(get_runtime)]
