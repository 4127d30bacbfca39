"""`python -m streaming.ticker`: the watermark ticker (pipelines.watermark_ticks) as a process of its own.

The embedded online job runs the ticker in its own process. Where the job runs in a Flink cluster (`flink run
--detached`: its Python driver exits after submission) this process does it instead: the cluster profile
(infra.cluster.profile) and docker-compose start it beside the job. Settings from the environment.
"""

from __future__ import annotations

import signal
import threading

from pipelines.settings import get_settings
from pipelines.watermark_ticks import online_ticker


def main() -> None:
    settings = get_settings()
    if settings.watermark_tick_s <= 0:
        raise SystemExit("watermark_tick_s is 0: ticks are off, nothing to do")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ticker = online_ticker(settings).start()
    print(
        f"ticking {ticker.topics} on {settings.kafka_bootstrap} every {settings.watermark_tick_s}s",
        flush=True,
    )
    stop.wait()
    ticker.stop()
    print(f"stopped after {ticker.sent} ticks (last error: {ticker.last_error})", flush=True)


if __name__ == "__main__":
    main()
