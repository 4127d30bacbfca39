"""The recommendation routes in BentoML's telemetry: bounded metric labels, no per-request access log or span.

BentoML's HTTP metrics middleware labels its series with the raw URL path, so `/recommendations/{user_id}` made
a set of series per user id: /metrics and each worker's memory grew without bound (+113 MB after 5,000 distinct
user ids, measured in-process), and creating them cost time on every new user. `route_labelled` makes it label
the hot paths by route template instead (`install_route_labelled_metrics`, run when serving.service is imported).
The access log line and the tracing span of these paths cost more per request than the recommendation's math
(profile: docs/serving.md, "Request path cost"), so `BENTOML_CONFIG` (passed to `@bentoml.service`) leaves them
out; request counts and latencies stay on /metrics. Users who want them back override BentoML's
`logging.access.skip_paths` / `tracing.excluded_urls` in a BentoML config file.
"""

from __future__ import annotations

from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

# path prefix -> route template (the metric's `endpoint` label); the legacy /predict is a hot path too
HOT_ROUTES = {"/recommendations/": "/recommendations/{user_id}", "/predict/": "/predict/{user_id}"}
EXACT_ROUTES = {"/recommendations": "/recommendations"}

BENTOML_CONFIG = {
    # BentoML's access log skips paths starting with these (its metrics middleware only skips a timestamp gauge)
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


class _ForwardRealScope:
    """The app BentoML's metrics middleware calls: the request's real scope (it was shown a relabelled one)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        real = _REAL_SCOPE.get()
        await self.app(real if real is not None else scope, receive, send)


_REAL_SCOPE: ContextVar[Scope | None] = ContextVar("movierec_real_scope", default=None)


def route_labelled(metrics_middleware: type) -> type:
    """`metrics_middleware` (BentoML's RunnerTrafficMetricsMiddleware) seeing a hot path's route template as the
    path it labels with; the app behind it still gets the real scope (per request: a context variable)."""

    class RouteLabelledTrafficMetrics(metrics_middleware):
        movierec_route_labels = True

        def __init__(self, app: ASGIApp, *args, **options):
            super().__init__(_ForwardRealScope(app), *args, **options)

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            template = route_template(scope.get("path", "")) if scope["type"] == "http" else None
            if template is None:
                await super().__call__(scope, receive, send)
                return
            token = _REAL_SCOPE.set(scope)
            try:
                await super().__call__({**scope, "path": template}, receive, send)
            finally:
                _REAL_SCOPE.reset(token)

    return RouteLabelledTrafficMetrics


def install_route_labelled_metrics() -> None:
    """Make BentoML build its HTTP metrics middleware from `route_labelled` (it imports the class when the service's
    ASGI app is built, after this module ran); idempotent."""
    from bentoml._internal.server.http import instruments

    current = instruments.RunnerTrafficMetricsMiddleware
    if not getattr(current, "movierec_route_labels", False):
        instruments.RunnerTrafficMetricsMiddleware = route_labelled(current)
