"""The recommendation routes in BentoML's telemetry (metric labels bounded by route template, the real path still
routed) and the request path's top-k, without a model or a server."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from starlette.responses import PlainTextResponse

from pipelines.fast_scoring import top_k
from serving.hot_paths import BENTOML_CONFIG, install_route_labelled_metrics, route_labelled, route_template


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/recommendations/17", "/recommendations/{user_id}"),
        ("/recommendations/900000001", "/recommendations/{user_id}"),
        ("/recommendations", "/recommendations"),
        ("/predict/anonymous", "/predict/{user_id}"),
        ("/recommend", None),  # BentoML's own API keeps BentoML's metrics and access log
        ("/healthz", None),
        ("/click", None),
        ("/ui/", None),
    ],
)
def test_route_templates_are_bounded(path, template):
    assert route_template(path) == template


def test_bentoml_skips_exactly_the_hot_paths():
    skipped = BENTOML_CONFIG["logging"]["access"]["skip_paths"]
    for path in ("/recommendations/5", "/recommendations", "/predict/5"):
        assert any(path.startswith(p) for p in skipped)
    for path in ("/recommend", "/click", "/clicks", "/model", "/metrics", "/online/status"):
        assert not any(path.startswith(p) for p in skipped)


def _call(app, path: str) -> None:
    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message):
        return None

    asyncio.run(app(scope, receive, send))


class FakeTrafficMetrics:
    """What BentoML's RunnerTrafficMetricsMiddleware does with a request: label by scope["path"], call the app."""

    labels: list[str] = []

    def __init__(self, app, namespace="bentoml_service", skip_paths=()):
        self.app = app

    async def __call__(self, scope, receive, send):
        self.labels.append(scope["path"])
        await self.app(scope, receive, send)


def test_bentoml_metrics_label_hot_paths_by_template_and_the_app_sees_the_real_path():
    routed: list[str] = []

    async def inner(scope, receive, send):
        routed.append(scope["path"])
        await PlainTextResponse("x")(scope, receive, send)

    FakeTrafficMetrics.labels = []
    app = route_labelled(FakeTrafficMetrics)(inner, namespace="bentoml_service", skip_paths=[])
    paths = [
        "/recommendations/1",
        "/recommendations/2",
        "/recommendations",
        "/healthz",
        "/predict/3",
        "/click",
    ]
    for path in paths:
        _call(app, path)
    assert routed == paths
    assert FakeTrafficMetrics.labels == ["/recommendations/{user_id}", "/recommendations/{user_id}",
                                         "/recommendations", "/healthz", "/predict/{user_id}", "/click"]  # fmt: skip


def test_installed_once_into_bentoml():
    from bentoml._internal.server.http import instruments

    install_route_labelled_metrics()
    first = instruments.RunnerTrafficMetricsMiddleware
    install_route_labelled_metrics()
    assert instruments.RunnerTrafficMetricsMiddleware is first and first.movierec_route_labels


def _reference_top_k(scores, k, exclude):
    """The previous implementation: mask a copy, count the finite scores, partition."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    exclude = np.asarray(exclude, dtype=np.int64)
    scores[exclude[(exclude >= 0) & (exclude < len(scores))]] = -np.inf
    k = min(k, int(np.isfinite(scores).sum()))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")].tolist()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    ("n", "k", "n_excluded"), [(50, 10, 0), (50, 10, 45), (12, 10, 5), (8, 10, 8), (200, 3, 30)]
)
def test_top_k_equals_the_reference(seed, n, k, n_excluded):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=n).astype(np.float32)
    scores[rng.integers(0, n, 3)] = 0.5  # ties
    exclude = np.concatenate([rng.choice(n, n_excluded, replace=False), [-1, n + 5]])  # unknown ids ignored
    before = scores.copy()
    assert top_k(scores, k, exclude).tolist() == _reference_top_k(scores, k, exclude)
    assert np.array_equal(scores, before)  # the caller's scores are never modified
