"""GET /model (the champion in use), the legacy GET /debug, and the page under /ui/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse

from serving.dependencies import Runtime
from serving.http_errors import error_responses
from serving.schemas import ModelInfo

router = APIRouter()
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# served by BentoML itself, next to the routes of this app
BENTOML_ENDPOINTS = {"GET /healthz", "GET /readyz", "GET /metrics", "POST /recommend"}


@router.get("/model", response_model=ModelInfo, responses=error_responses(503), summary="The champion in use")
def model_info(runtime: Runtime):
    champ = runtime.holder.current
    if champ is None:
        raise HTTPException(503, runtime.holder.last_error or "no champion model registered yet")
    return ModelInfo(
        name=champ.model_name,
        version=str(champ.version),
        alias="champion",
        run_id=champ.run_id,
        metrics={k: float(v) for k, v in champ.metrics.items()},
        loaded_at=champ.loaded_at,
        catalog_size=len(champ.recommender.movies),
        last_checked_at=runtime.holder.last_checked_at,
        last_error=runtime.holder.last_error,
    )


def _endpoints(request: Request) -> list[str]:
    """Every documented route of this API (from its OpenAPI), plus BentoML's own and the page."""
    paths = request.app.openapi()["paths"]
    documented = {f"{method.upper()} {path}" for path, ops in paths.items() for method in ops}
    return sorted(documented | BENTOML_ENDPOINTS | {"GET /ui/", "GET /ui/metrics"})


@router.get("/debug", summary="Legacy: status, endpoints and an example")
def debug(runtime: Runtime, request: Request) -> dict[str, Any]:
    ready, reasons = runtime.readiness()
    champ = runtime.holder.current
    base = str(request.base_url).rstrip("/")  # the address this request came to, not a guess
    return {
        "status": "ok" if ready else "degraded",
        "not_ready_because": reasons,
        "model": None if champ is None else {"name": champ.model_name, "version": str(champ.version)},
        "model_swaps": runtime.holder.swaps,
        "clicks": runtime.publisher.stats() if runtime.publisher else None,
        "recent_clicks": {
            **(runtime.recent.stats() if runtime.recent else {}),
            "follower": runtime.follower.stats() if runtime.follower else None,
        },
        "endpoints": _endpoints(request),
        "example": {
            "recommendations": f"curl '{base}/recommendations/1?k=10'",
            "predict": f"curl {base}/predict/anonymous",
            "click": f"curl -X POST {base}/click -H 'Content-Type: application/json' "
            '-d \'{"userId": 1, "movieId": 1, "timestamp": 1694582374}\'',
        },
    }


@router.get("/ui", include_in_schema=False)
def ui_redirect() -> RedirectResponse:
    return RedirectResponse("/ui/")


@router.get("/ui/metrics", include_in_schema=False)
def metrics_page() -> FileResponse:
    """Online CTR per model version over time, and what is trending (reads /online/metrics, /trending)."""
    return FileResponse(STATIC_DIR / "metrics.html")


@router.get("/ui/", include_in_schema=False)
def ui_index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html")
