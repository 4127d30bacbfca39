"""Airflow's four components under one supervisor: what `airflow standalone` starts, loopback only.

`airflow standalone` also starts the scheduler's and the triggerer's log servers, which Airflow 3 binds to all
interfaces (host hard-coded in airflow/utils/serve_logs/core.py). On one machine the API server reads task logs
from the shared log folder, so this supervisor runs the components with `--skip-serve-logs` instead.

Run by `infra.airflow.up` with the environment of `infra.airflow.airflow_env` (the Airflow env's `airflow` first
on PATH). If any component exits, the others are stopped and the supervisor exits non-zero.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

# component -> extra CLI arguments
COMPONENTS: dict[str, list[str]] = {
    "api-server": [],
    "scheduler": ["--skip-serve-logs"],
    "dag-processor": [],
    "triggerer": ["--skip-serve-logs"],
}


def say(message: str) -> None:
    print(f"[airflow-components] {message}", flush=True)


def stop_all(children: dict[str, subprocess.Popen], grace: float = 30.0) -> None:
    """SIGTERM every live component, SIGKILL what is still alive after `grace` seconds."""
    for proc in children.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace
    for name, proc in children.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop in {grace:.0f}s: SIGKILL")
            proc.kill()
            proc.wait()


def main() -> int:
    airflow = shutil.which("airflow")
    if airflow is None:
        say("no `airflow` on PATH (run through infra.airflow, which puts the Airflow env first)")
        return 2
    say("airflow db migrate")
    subprocess.run([airflow, "db", "migrate"], check=True)

    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    children = {name: subprocess.Popen([airflow, name, *args]) for name, args in COMPONENTS.items()}
    say("started " + ", ".join(f"{name} (pid {proc.pid})" for name, proc in children.items()))
    exit_code = 0
    while not stopping:
        exited = {name: proc.returncode for name, proc in children.items() if proc.poll() is not None}
        if exited:
            say(f"component(s) exited: {exited}; stopping the others")
            exit_code = 1
            break
        time.sleep(1.0)
    stop_all(children)
    say("stopped")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
