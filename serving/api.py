"""The HTTP API: a FastAPI app mounted into the BentoML service, assembled from one router per concern.

Handlers are thin: they validate, reach the replica's ServingRuntime through a dependency and call plain
functions. Bad input always ends in a 4xx with a JSON `{"error": ...}` body, never a 500.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from serving.http_errors import RequestGuard, install_error_handlers
from serving.routes import catalog, clicks, online, ops, recommendations

__all__ = ["RequestGuard", "app", "create_app"]


def create_app() -> FastAPI:
    """The FastAPI app; `app.state.runtime` is set by the service (or a test) before requests arrive."""
    app = FastAPI(
        title="movierec serving",
        version="1.0",
        description="Top-N movie recommendations from the MLflow champion, clicks to Kafka, legacy endpoints.",
    )
    app.state.runtime = None
    install_error_handlers(app)
    for router in (recommendations.router, clicks.router, catalog.router, online.router, ops.router):
        app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=ops.STATIC_DIR), name="ui-static")
    return app


app = create_app()
