"""Trigger a DAG run over Airflow's REST API and wait for the result (`movierec airflow trigger`, `stack up`).

Flow: POST /auth/token (simple auth manager user + generated password) -> PATCH the DAG unpaused ->
POST /api/v2/dags/{id}/dagRuns -> poll the run -> print task states and the `promote` decision.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx

FINISHED = {"success", "failed"}


class AirflowClient:
    """Minimal JSON client for the Airflow 3 public REST API (bearer token from /auth/token)."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30.0) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        token = self._request("POST", "/auth/token", {"username": username, "password": password})[
            "access_token"
        ]
        self.token = token
        self.http.headers["Authorization"] = f"Bearer {token}"

    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        resp = self.http.request(method, path, json=body, headers={"Accept": "application/json"})
        if resp.is_error:
            raise RuntimeError(f"{method} {path} -> HTTP {resp.status_code}: {resp.text[:500]}")
        return resp.json() if resp.content else {}

    def unpause(self, dag_id: str) -> None:
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: dict) -> str:
        run = self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}")["state"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances"
        return self._request("GET", path)["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """The task's return value, or None when it has none (failed/skipped task)."""
        path = (
            f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances/{task_id}/xcomEntries/return_value"
        )
        try:
            return self._request("GET", path + "?deserialize=true")["value"]
        except RuntimeError:
            return None


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def wait_for_run(
    client: AirflowClient, dag_id: str, run_id: str, timeout: float, interval: float = 5.0
) -> str:
    """Poll until the run is success/failed (prints task states as they change); 'timeout' otherwise."""
    deadline = time.monotonic() + timeout
    seen: dict[str, str | None] = {}
    while time.monotonic() < deadline:
        for ti in client.task_instances(dag_id, run_id):
            if seen.get(ti["task_id"]) != ti["state"]:
                seen[ti["task_id"]] = ti["state"]
                print(f"  {ti['task_id']:<16} {ti['state']}", flush=True)
        state = client.run_state(dag_id, run_id)
        if state in FINISHED:
            return state
        time.sleep(interval)
    return "timeout"


def trigger_and_report(
    url: str, password_file: Path, dag_id: str, conf: dict, timeout: float = 3600.0, wait: bool = True,
    username: str = "admin",
) -> str:  # fmt: skip
    """Unpause, trigger, and (when `wait`) wait and print each task's state and the promote decision.

    Returns the run's final state ("triggered" without waiting).
    """
    password = json.loads(password_file.read_text())[username]
    client = AirflowClient(url, username, password)
    client.unpause(dag_id)
    run_id = client.trigger(dag_id, conf)
    print(f"triggered {dag_id} run {run_id}", flush=True)
    if not wait:
        return "triggered"
    state = wait_for_run(client, dag_id, run_id, timeout)
    print(f"run {run_id}: {state}")
    for ti in sorted(client.task_instances(dag_id, run_id), key=lambda t: t.get("start_date") or "~"):
        duration = ti.get("duration")
        took = f"{duration:7.1f}s" if isinstance(duration, (int, float)) else "      -"
        print(f"  {ti['task_id']:<16} {ti['state'] or '-':<16} {took}")
    decision = client.xcom(dag_id, run_id, "promote")
    if decision is not None:
        print(f"promote decision: {json.dumps(decision, default=str)}", flush=True)
    return state
