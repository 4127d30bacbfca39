"""The recommendation routes' telemetry: one bounded Prometheus histogram instead of BentoML's per-request extras.

BentoML's own middlewares label their metrics with the raw URL path, so `/recommendations/{user_id}` makes one set
of series per user id (unbounded /metrics and memory), and its access log and tracing span cost more per request
than the recommendation's math (the issue-12 profile: docs/serving.md, "Request path cost"). The hot paths are
therefore left out of those three (`BENTOML_CONFIG`, passed to `@bentoml.service`) and counted here, labelled by
route template and status. Users who want the access log back for them override BentoML's
`logging.access.skip_paths` / `tracing.excluded_urls` in a BentoML config file.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# path prefix -> route template (the metric's `endpoint` label); the legacy /predict is a hot path too
HOT_ROUTES = {"/recommendations/": "/recommendations/{user_id}", "/predict/": "/predict/{user_id}"}
EXACT_ROUTES = {"/recommendations": "/recommendations"}
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

BENTOML_CONFIG = {
    # BentoML skips metrics and access log for paths starting with these (the metrics middleware shares the list)
    "logging": {"access": {"skip_paths": ["/recommendations", "/predict/"]}},
    "tracing": {"excluded_urls": [r"://[^/]+/(recommendations|predict/)"]},
}


def route_template(path: str) -> str | None:
    """The route template of a hot path, None for every other path."""
    exact = EXACT_ROUTES.get(path)
    if exact is not None:
        return exact
    for prefix, template in HOT_ROUTES.items():
        if path.startswith(prefix):
            return template
    return None


def _histogram() -> Callable[[str, int, float], None]:
    """`observe(endpoint, status, seconds)` on a bentoml.metrics histogram (multiprocess-safe, on /metrics)."""
    from bentoml import metrics

    histogram = metrics.Histogram(
        name="movierec_recommendation_request_duration_seconds",
        documentation="Recommendation requests by route template and status (count = _count)",
        labelnames=["endpoint", "http_response_code"],
        buckets=BUCKETS,
    )
    return lambda endpoint, status, seconds: histogram.labels(endpoint, str(status)).observe(seconds)


class HotPathMetrics:
    """ASGI middleware: count and time the hot paths (every status, errors included); other paths pass through."""

    def __init__(self, app: ASGIApp, observe: Callable[[str, int, float], None] | None = None):
        self.app = app
        self._observe = observe  # made on the first hot request: after BentoML set up its metrics client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = route_template(scope.get("path", "")) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if self._observe is None:
                self._observe = _histogram()
            self._observe(route, status, time.perf_counter() - started)
