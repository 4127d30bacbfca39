"""The champion in use, and a background thread that hot-swaps it when the registry promotes a new one.

A swap builds and warms the new Recommender completely, then replaces one reference: a request reads
`holder.current` once and uses that champion to the end, so no request ever sees half of a model.
A failed load keeps the old champion and records why (`last_error`, logs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

ALIAS = "champion"


class ChampionHolder:
    """One atomically replaced reference to the current champion (or None)."""

    def __init__(self) -> None:
        self.current: Any | None = None  # pipelines.registry.Champion
        self.swaps = 0
        self.last_checked_at: datetime | None = None
        self.last_error: str | None = None

    def swap(self, champion: Any) -> Any | None:
        previous, self.current = self.current, champion
        self.swaps += 1
        return previous

    @property
    def version(self) -> str | None:
        champ = self.current
        return None if champ is None else str(champ.version)


def warm_up(champion: Any) -> None:
    """Run requests through the new model before the swap, so the first real request does not pay for tracing."""
    rec = champion.recommender
    rec.cold_start(10)
    user_ids = rec.maps.user_ids
    if len(user_ids):
        for _ in range(2):
            rec.top_k(int(user_ids[0]), 10)


class ModelWatcher:
    """Polls the registry every `interval_s`; loads, warms and swaps in a new champion version."""

    def __init__(
        self,
        holder: ChampionHolder,
        champion_version: Callable[[], str | None],
        load_champion: Callable[[], Any | None],
        interval_s: float,
        refresh: Callable[[], None] | None = None,
    ):
        self.holder = holder
        self.refresh = refresh  # per-poll upkeep of the current champion (catalog additions)
        self.champion_version = champion_version
        self.load_champion = load_champion
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> bool:
        """One poll: True when a new champion was swapped in."""
        self.holder.last_checked_at = datetime.now(UTC)
        try:
            version = self.champion_version()
        except Exception as exc:  # noqa: BLE001 - registry down: keep serving what we have
            self._fail(f"registry lookup failed: {type(exc).__name__}: {exc}")
            return False
        if version is None or version == self.holder.version:
            if version is None and self.holder.current is None:
                self.holder.last_error = None
            return False
        started = time.perf_counter()
        try:
            champion = self.load_champion()
            if champion is None:
                raise RuntimeError("the champion alias disappeared while loading")
            warm_up(champion)
        except Exception as exc:  # noqa: BLE001 - keep the old model, say why
            self._fail(f"loading champion version {version} failed: {type(exc).__name__}: {exc}")
            return False
        previous = self.holder.swap(champion)
        self.holder.last_error = None
        log.info(
            "swapped champion %s v%s -> v%s in %.1fs",
            champion.model_name,
            getattr(previous, "version", None),
            champion.version,
            time.perf_counter() - started,
        )
        return True

    def _fail(self, reason: str) -> None:
        self.holder.last_error = reason
        log.error("%s (still serving version %s)", reason, self.holder.version)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="model-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check_once()
            if self.refresh is not None:
                try:
                    self.refresh()
                except Exception:  # noqa: BLE001 - upkeep must never stop the watcher
                    log.exception("champion refresh failed")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
