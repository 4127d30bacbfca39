"""FastAPI dependencies shared by the routers: the replica's runtime."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from serving.runtime import ServingRuntime


def runtime_of(request: Request) -> ServingRuntime:
    """The ServingRuntime the service (or a test) put on `app.state`; 503 until it exists.

    The recommendation routes call this directly (they take the `Request`): solving a dependency costs FastAPI
    ~0.1 ms per request, a third of a known user's whole recommendation.
    """
    runtime = request.app.state.runtime
    if runtime is None:
        raise HTTPException(503, "service is starting")
    return runtime


async def get_runtime(request: Request) -> ServingRuntime:
    """`runtime_of` as a dependency; `async` because a sync dependency costs a threadpool hop per request."""
    return runtime_of(request)


Runtime = Annotated[ServingRuntime, Depends(get_runtime)]
