"""The BentoML service as a PID-file managed background process (`movierec serving up|down|status|serve`).

Same process name ("serving") as the stack's, so `movierec stack down` and `movierec serving down` end the same
process. `up` waits for /healthz (the service answers) and then reports /readyz (champion loaded, broker reachable).
"""

from __future__ import annotations

import httpx

from infra.processes import ManagedProcess, http_ok
from pipelines.settings import PROJECT_ROOT, Settings

NAME = "serving"


def serve_command(settings: Settings) -> list[str]:
    """The service's own start command: `bentoml serve serving.service:MovieRecommender` on the configured address."""
    return [str(settings.venvs_dir / "ml" / "bin" / "bentoml"), "serve", "serving.service:MovieRecommender",
            "--host", settings.serving_host, "--port", str(settings.serving_port)]  # fmt: skip


def serving_process(settings: Settings) -> ManagedProcess:
    url = f"http://{settings.serving_host}:{settings.serving_port}"
    return ManagedProcess(NAME, serve_command(settings), settings.pids_dir, settings.logs_dir, cwd=PROJECT_ROOT,
                          ready=lambda: http_ok(f"{url}/healthz"))  # fmt: skip


def readyz(settings: Settings) -> str:
    try:
        r = httpx.get(f"http://{settings.serving_host}:{settings.serving_port}/readyz", timeout=5)
    except httpx.HTTPError as exc:
        return f"not answering: {exc}"
    return f"ready ({r.status_code})" if r.is_success else f"not ready ({r.status_code}): {r.text.strip()}"
