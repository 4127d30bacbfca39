"""From nothing to a closed loop: `infra.stack up` on free ports, recommendations, clicks excluded at once and
landed by Flink, a retrain over the Airflow REST API, a new MLflow version served after hot-swap, the page in a
real browser, then `infra.stack down` leaves no process behind."""

from __future__ import annotations

import json
import socket
import subprocess

import httpx
import pandas as pd
import pytest

from infra.processes import descendants, pid_alive
from tests.browser import chromium_page
from tests.helpers import FIXTURE_DATA_ROOT, REPO_ROOT, SCREENSHOTS_DIR, free_port

ML_PY = str(REPO_ROOT / ".venvs" / "ml" / "bin" / "python")
SCREENSHOTS = SCREENSHOTS_DIR
SCREENSHOT = SCREENSHOTS / "e2e-page.png"

pytestmark = [pytest.mark.slow, pytest.mark.integration]
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def bound_sockets(pids: set[int]) -> set[tuple[str, str, int]]:
    """(process name, address, port) of every listening TCP and bound UDP socket of these processes."""
    import psutil

    found = set()
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for conn in proc.net_connections(kind="inet"):
                if conn.laddr and (conn.status == psutil.CONN_LISTEN or conn.type == socket.SOCK_DGRAM):
                    found.add((proc.name(), conn.laddr.ip, conn.laddr.port))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.fixture
def stack_env(tmp_path, monkeypatch) -> dict[str, str]:
    env = {
        "MOVIEREC_VAR_DIR": str(tmp_path / "var"),
        "MOVIEREC_DATA_ROOT": str(FIXTURE_DATA_ROOT),
        "MOVIEREC_DATASET": "ml-latest-small",
        "MOVIEREC_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "MOVIEREC_MLFLOW_PORT": str(free_port()),
        "MOVIEREC_AIRFLOW_PORT": str(free_port()),
        "MOVIEREC_SERVING_PORT": str(free_port()),
        "MOVIEREC_MODEL_POLL_INTERVAL_S": "2",
        "MOVIEREC_EPOCHS": "2",
        "MOVIEREC_EMBEDDING_DIM": "8",
        "MOVIEREC_MLP_LAYERS": "[16, 8]",
        "MOVIEREC_FLINK_CHECKPOINT_INTERVAL_S": "3",
        "MOVIEREC_RETRAIN_SCHEDULE": "",  # no @daily run racing the test across midnight UTC
    }
    env["MOVIEREC_MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{env['MOVIEREC_MLFLOW_PORT']}"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def stack(command: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([ML_PY, "-m", "infra.cli", "stack", command], cwd=REPO_ROOT, timeout=timeout, text=True,
                          capture_output=True)  # fmt: skip


def test_full_loop_from_nothing(stack_env):
    from infra.demo import run_demo
    from pipelines.settings import Settings

    settings = Settings()
    result = None
    try:
        up = stack("up", timeout=1500)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        assert "The loop is up" in up.stdout and "promote decision" in up.stdout
        pids = {p.stem: int(p.read_text()) for p in settings.pids_dir.glob("*.pid")}
        assert {"broker", "mlflow", "airflow", "serving"} <= set(pids), pids

        base = f"http://127.0.0.1:{settings.serving_port}"
        model = httpx.get(f"{base}/model", timeout=10).json()
        assert model["version"] == "1" and model["alias"] == "champion"

        user = int(pd.read_csv(FIXTURE_DATA_ROOT / "ml-latest-small" / "ratings.csv").userId.iloc[0])
        result = run_demo(settings, user_id=user, clicks=20, conf={"force_promote": True}, dag_timeout=1200)
        assert result.disappeared, "a liked movie must vanish from the user's next list at once"
        assert result.landed == len(result.event_ids) == 21
        assert result.dag_state == "success"
        new_version = str(result.decision["challenger_version"])
        assert result.decision["promoted"] and int(new_version) > 1
        assert result.served_version_after == new_version, "the service must hot-swap to the new champion"

        with chromium_page() as page:
            page.goto(f"{base}/ui/")
            page.fill("#user-id", str(user))
            page.click("#go")
            page.wait_for_function("document.querySelectorAll('#recs li').length === 10")
            assert f"v{new_version}" in page.text_content("#model-badge")
            first = page.locator("#recs li").first
            movie_id = first.get_attribute("data-movie-id")
            first.locator("button[data-event=like]").click()
            page.wait_for_function("document.querySelector('#status').textContent.includes('liked')")
            page.wait_for_function("document.querySelectorAll('#recs li').length === 10")
            assert page.locator(f'#recs li[data-movie-id="{movie_id}"]').count() == 0
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        screenshot_mlflow_and_airflow(settings)
        family = {p for pid in pids.values() for p in (pid, *descendants(pid))}
        sockets = bound_sockets(family)
        print(f"\n[loopback] {len(sockets)} listening/bound sockets of the stack: {sorted(sockets)}")
        assert any(port == settings.serving_port for _, _, port in sockets), sockets
        exposed = [s for s in sockets if s[1] not in LOOPBACK]
        assert not exposed, f"stack processes bound beyond loopback: {exposed}"
    finally:
        down = stack("down", timeout=300)
        print(down.stdout)
    assert down.returncode == 0
    left = sorted(p for p in family if pid_alive(p))
    assert not left, f"processes left running after down: {left}"
    snapshots = [p.read_text() for p in settings.runs_dir.glob("*/feedback.jsonl")]
    consumed = {
        json.loads(line)["event_id"] for text in snapshots for line in text.splitlines() if line.strip()
    }
    assert set(result.event_ids) <= consumed, "the retrain run must have read every landed click"


def screenshot_mlflow_and_airflow(settings) -> None:
    """The registry with its aliases and the DAG's runs, as a person sees them (README screenshots)."""
    from infra.airflow import password_file
    from infra.trigger_dag import AirflowClient

    with chromium_page(1400, 900) as page:
        page.goto(f"http://127.0.0.1:{settings.mlflow_port}/#/models/{settings.model_name}")
        page.wait_for_selector("text=champion", timeout=60_000)
        page.screenshot(path=str(SCREENSHOTS / "mlflow-registry.png"))
        airflow = f"http://127.0.0.1:{settings.airflow_port}"
        password = json.loads(password_file(settings.airflow_home).read_text())["admin"]
        token = AirflowClient(airflow, "admin", password).token
        page.context.add_cookies([{"name": "_token", "value": token, "url": airflow}])
        page.goto(f"{airflow}/dags/movielens_retrain")
        page.wait_for_selector("text=movielens_retrain", timeout=60_000)
        page.wait_for_timeout(2000)  # let the run grid render
        page.screenshot(path=str(SCREENSHOTS / "airflow-dag.png"))
