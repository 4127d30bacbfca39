"""Background processes of the local stack: start with a PID file and a log, wait until ready, stop by PID.

Every component (broker, Flink job, MLflow server, Airflow, BentoML) is started through `ManagedProcess`
so that `make down` ends exactly what `make up` started and nothing else.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when GET url answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback URLs only)
            return 200 <= resp.status < 300
    except Exception:
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
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); treat it as gone
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def descendants(pid: int) -> list[int]:
    """All living descendants of pid (children first), read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


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
                raise RuntimeError(f"{self.name} exited with code {proc.returncode}; log tail:\n{self.log_tail()}")
            time.sleep(0.25)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s; log tail:\n{self.log_tail()}")

    def stop(self, grace: float = 15.0) -> bool:
        """SIGTERM the process group we started, SIGKILL after `grace` seconds. False if it was not running.

        Descendants that moved to a session of their own (BentoML workers do) are ended as well.
        """
        pid = self.pid()
        if pid is None:
            return False
        family = [pid, *descendants(pid)]
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass
            for child in family[1:]:
                try:
                    os.kill(child, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(pid_alive(p) for p in family):
                time.sleep(0.1)
            if not any(pid_alive(p) for p in family):
                break
        try:  # reap if it is our child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
