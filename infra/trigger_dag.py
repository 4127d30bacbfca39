"""Trigger a DAG run over Airflow's REST API and wait for the result (exit code 0 = success).

    python -m infra.trigger_dag movielens_retrain --conf '{"epochs": 2, "force_promote": false}'

Flow: POST /auth/token (simple auth manager user + generated password) -> PATCH the DAG unpaused ->
POST /api/v2/dags/{id}/dagRuns -> poll the run -> print task states and the `promote` decision.
Stdlib only, so it runs from any of the project envs.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

FINISHED = {"success", "failed"}


class AirflowClient:
    """Minimal JSON client for the Airflow 3 public REST API (bearer token from /auth/token)."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = self._request("POST", "/auth/token", {"username": username, "password": password})[
            "access_token"
        ]

    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if getattr(self, "token", None):
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 (loopback by default)
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise RuntimeError(f"{method} {path} -> HTTP {exc.code}: {detail}") from exc
        return json.loads(raw) if raw else {}

    def unpause(self, dag_id: str) -> None:
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: dict) -> str:
        run = self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}")["state"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances")[
            "task_instances"
        ]

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
