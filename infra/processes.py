"""Background processes of the local stack: start with a PID file and a log, wait until ready, stop by PID.

Every component (broker, Flink job, MLflow server, Airflow, BentoML) is started through `ManagedProcess`
so that `make down` ends exactly what `make up` started and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A free TCP port on loopback (for tests and benchmarks; never the stack's fixed ports)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when GET url answers 2xx."""
    try:
        return httpx.get(url, timeout=timeout).is_success
    except httpx.HTTPError:
        return False


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Poll predicate until it is true (True) or timeout seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def pid_alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped) counts as gone."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def descendants(pid: int) -> list[int]:
    """All living descendants of pid (children first)."""
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@dataclass
class ManagedProcess:
    """One named background process with `<pids_dir>/<name>.pid` and `<logs_dir>/<name>.log`."""

    name: str
    cmd: Sequence[str]
    pids_dir: Path
    logs_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    ready: Callable[[], bool] | None = None

    @property
    def pid_file(self) -> Path:
        return self.pids_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.logs_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The PID we started, if it is still alive (stale PID files are removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if pid_alive(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout: float = 60.0) -> int:
        """Start (or reuse) the process and wait until `ready()`; raises with the log tail on failure."""
        existing = self.pid()
        if existing is not None:
            self.wait_ready(timeout)
            return existing
        self.pids_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(  # noqa: S603
                list(self.cmd),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                start_new_session=True,  # own process group: stop() ends its children too
            )
        self.pid_file.write_text(str(proc.pid))
        try:
            self.wait_ready(timeout, proc=proc)
        except Exception:
            self.stop()
            raise
        return proc.pid

    def wait_ready(self, timeout: float, proc: subprocess.Popen | None = None) -> None:
        if self.ready is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready():
                return
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {proc.returncode}; log tail:\n{self.log_tail()}"
                )
            time.sleep(0.25)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s; log tail:\n{self.log_tail()}")

    def stop(self, grace: float = 15.0) -> bool:
        """SIGTERM the process group we started, SIGKILL after `grace` seconds. False if it was not running.

        Descendants that moved to a session of their own (BentoML workers do) are ended as well.
        """
        pid = self.pid()
        if pid is None:
            return False
        try:
            family = [psutil.Process(pid)]
            family += family[0].children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            for proc in family:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.send_signal(sig)
            _, family = psutil.wait_procs(family, timeout=wait)
            family = [p for p in family if pid_alive(p.pid)]
            if not family:
                break
        with contextlib.suppress(ChildProcessError):  # reap if it is our child
            os.waitpid(pid, os.WNOHANG)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
