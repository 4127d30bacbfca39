"""`python -m serving.process up|down|status`: the BentoML service as a PID-file managed background process.

Same process name ("serving") as the stack's, so `make down` and `make serving-down` end the same process.
`up` waits for /healthz (the service answers) and then reports /readyz (champion loaded, broker reachable).
"""

from __future__ import annotations

import sys
import urllib.request

from infra.processes import ManagedProcess, http_ok
from pipelines.settings import PROJECT_ROOT, Settings, get_settings

NAME = "serving"


def serving_process(settings: Settings) -> ManagedProcess:
    url = f"http://{settings.serving_host}:{settings.serving_port}"
    cmd = [str(settings.venvs_dir / "ml" / "bin" / "bentoml"), "serve", "serving.service:MovieRecommender",
           "--host", settings.serving_host, "--port", str(settings.serving_port)]  # fmt: skip
    return ManagedProcess(NAME, cmd, settings.pids_dir, settings.logs_dir, cwd=PROJECT_ROOT,
                          ready=lambda: http_ok(f"{url}/healthz"))  # fmt: skip


def readyz(settings: Settings) -> str:
    try:
        with urllib.request.urlopen(f"http://{settings.serving_host}:{settings.serving_port}/readyz", timeout=5) as r:  # noqa: S310
            return f"ready ({r.status})"
    except urllib.error.HTTPError as exc:
        return f"not ready ({exc.code}): {exc.read().decode(errors='replace').strip()}"
    except OSError as exc:
        return f"not answering: {exc}"


def main(argv: list[str] | None = None) -> int:
    cmd = (argv or sys.argv[1:] or ["status"])[0]
    settings = get_settings()
    proc = serving_process(settings)
    if cmd == "up":
        pid = proc.start(timeout=180)
        print(f"serving pid {pid} on http://{settings.serving_host}:{settings.serving_port} (log {proc.log_file})")
        print(f"  page: http://{settings.serving_host}:{settings.serving_port}/ui/   readyz: {readyz(settings)}")
    elif cmd == "down":
        print("stopped" if proc.stop() else "not running")
    elif cmd == "status":
        pid = proc.pid()
        print(f"serving: {'pid ' + str(pid) if pid else 'not running'}; {readyz(settings) if pid else ''}")
    else:
        print(f"unknown command {cmd!r}: use up, down or status", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
