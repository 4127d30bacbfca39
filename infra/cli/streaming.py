"""`python -m streaming ...`: broker, topics, landing job, lag, DLQ replay, load generator (prints JSON)."""

from __future__ import annotations

import argparse
import json
import sys

from pipelines.settings import get_settings


def _print(obj: object) -> None:
    print(json.dumps(obj, indent=1, default=str))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streaming", description=__doc__)
    sub = parser.add_subparsers(dest="area", required=True)

    broker = sub.add_parser("broker", help="the local tansu broker").add_subparsers(dest="action", required=True)
    start = broker.add_parser("start")
    start.add_argument("--storage-engine", default="memory://tansu/", help="memory://tansu/ or s3://tansu/")
    broker.add_parser("stop")
    broker.add_parser("status")

    topics = sub.add_parser("topics").add_subparsers(dest="action", required=True)
    topics.add_parser("create", help="create the clicks and DLQ topics if missing")

    job = sub.add_parser("job", help="the Flink landing job").add_subparsers(dest="action", required=True)
    job_start = job.add_parser("start", help="long-running; restores from the latest retained checkpoint")
    job_start.add_argument("--fresh", action="store_true", help="ignore retained checkpoints")
    job.add_parser("stop")
    job.add_parser("status")
    job.add_parser("run-bounded", help="land everything produced so far, then stop")

    sub.add_parser("lag", help="committed offsets of the landing job vs true end offsets")

    dlq = sub.add_parser("dlq").add_subparsers(dest="action", required=True)
    dlq.add_parser("show", help="print the dead-letter records")
    replay = dlq.add_parser("replay", help="re-publish DLQ events to the clicks topic")
    replay.add_argument("--include-invalid", action="store_true", help="also those that still fail validation")

    gen = sub.add_parser("loadgen", help="produce a bounded realistic click stream")
    gen.add_argument("--count", type=int, default=1000)
    gen.add_argument("--rate", type=float, default=200.0, help="events/s cap")
    gen.add_argument("--seed", type=int, default=0)

    args = parser.parse_args(argv)
    settings = get_settings()
    if args.area == "broker":
        from streaming import broker as b

        if args.action == "start":
            _print({"pid": b.start_broker(settings, args.storage_engine), "bootstrap": settings.kafka_bootstrap})
        elif args.action == "stop":
            _print({"stopped": b.stop_broker(settings)})
        else:
            _print(b.broker_status(settings))
    elif args.area == "topics":
        from streaming.topics import ensure_topics

        _print(ensure_topics(settings))
    elif args.area == "job":
        from streaming import jobctl

        actions = {
            "start": lambda: {"pid": jobctl.start_job(settings, fresh=args.fresh), **jobctl.read_status(settings)},
            "stop": lambda: {"stopped": jobctl.stop_job(settings)},
            "status": lambda: jobctl.job_status(settings),
            "run-bounded": lambda: jobctl.run_bounded(settings),
        }
        _print(actions[args.action]())
    elif args.area == "lag":
        from streaming.offsets import lag

        _print(lag(settings.kafka_bootstrap, settings.flink_consumer_group, settings.clicks_topic))
    elif args.area == "dlq":
        from streaming import dlq as d

        if args.action == "show":
            _print([{"partition": p, "offset": o, **r} for p, o, r in d.read_dlq(settings)])
        else:
            _print(d.replay_dlq(settings, include_invalid=args.include_invalid))
    elif args.area == "loadgen":
        from streaming.loadgen import produce

        _print(produce(settings, args.count, args.rate, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
