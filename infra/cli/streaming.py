"""`movierec streaming ...`: broker, topics, landing job, online job, lag, DLQ, load generator (prints JSON).

A Typer sub-app; infra.cli registers it as `movierec streaming`. The Flink job itself runs in the Flink env
(`python -m streaming.job`, started by infra.flink_job), which has no Typer.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from infra import broker as broker_ctl
from infra import flink_job
from infra.broker import DEFAULT_ENGINE
from pipelines.kafka_config import ensure_topics
from pipelines.settings import get_settings
from streaming import dlq as dead_letters
from streaming.loadgen import produce
from streaming.offsets import lag as consumer_lag

app = typer.Typer(help="The local tansu broker, topics, the Flink landing job, lag, DLQ and load generation.",
                  no_args_is_help=True)  # fmt: skip
broker_app = typer.Typer(help="The local tansu broker.", no_args_is_help=True)
topics_app = typer.Typer(help="Topics as code.", no_args_is_help=True)
job_app = typer.Typer(help="The Flink landing job.", no_args_is_help=True)
online_app = typer.Typer(
    help="The Flink online A/B metrics job (impressions + clicks).", no_args_is_help=True
)
dlq_app = typer.Typer(help="The dead-letter topic.", no_args_is_help=True)
app.add_typer(broker_app, name="broker")
app.add_typer(topics_app, name="topics")
app.add_typer(job_app, name="job")
app.add_typer(online_app, name="online")
app.add_typer(dlq_app, name="dlq")


def _print(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=1, default=str))


@broker_app.command("start")
def broker_start(
    storage_engine: Annotated[str, typer.Option(help="memory://tansu/ or s3://tansu/")] = DEFAULT_ENGINE,
) -> None:
    """Start (or reuse) the broker at settings.kafka_bootstrap."""
    settings = get_settings()
    _print({"pid": broker_ctl.start_broker(settings, storage_engine), "bootstrap": settings.kafka_bootstrap})


@broker_app.command("stop")
def broker_stop() -> None:
    """Stop the broker this project started."""
    _print({"stopped": broker_ctl.stop_broker(get_settings())})


@broker_app.command("status")
def broker_status() -> None:
    _print(broker_ctl.broker_status(get_settings()))


@topics_app.command("create")
def topics_create() -> None:
    """Create the clicks and DLQ topics if missing."""
    _print(ensure_topics(get_settings()))


@job_app.command("start")
def job_start(fresh: Annotated[bool, typer.Option(help="ignore retained checkpoints")] = False) -> None:
    """Long-running; restores from the latest retained checkpoint."""
    settings = get_settings()
    _print({"pid": flink_job.start_job(settings, fresh=fresh), **flink_job.read_status(settings)})


@job_app.command("stop")
def job_stop() -> None:
    _print({"stopped": flink_job.stop_job(get_settings())})


@job_app.command("status")
def job_status() -> None:
    _print(flink_job.job_status(get_settings()))


@job_app.command("run-bounded")
def job_run_bounded() -> None:
    """Land everything produced so far, then stop."""
    _print(flink_job.run_bounded(get_settings()))


@online_app.command("start")
def online_start(fresh: Annotated[bool, typer.Option(help="ignore retained checkpoints")] = False) -> None:
    """Long-running; restores from the latest retained checkpoint."""
    settings = get_settings()
    pid = flink_job.start_job(settings, fresh=fresh, job=flink_job.ONLINE)
    _print({"pid": pid, **flink_job.read_status(settings, flink_job.ONLINE)})


@online_app.command("stop")
def online_stop() -> None:
    _print({"stopped": flink_job.stop_job(get_settings(), job=flink_job.ONLINE)})


@online_app.command("status")
def online_status() -> None:
    settings = get_settings()
    status = flink_job.job_status(settings, job=flink_job.ONLINE)
    group = settings.flink_online_consumer_group
    try:
        status["lag"] = {
            topic: consumer_lag(settings.kafka_bootstrap, group, topic)
            for topic in (settings.impressions_topic, settings.clicks_topic)
        }
    except Exception as exc:  # noqa: BLE001 - the broker may be down; status still answers
        status["lag"] = f"unavailable: {exc}"
    _print(status)


@online_app.command("run-bounded")
def online_run_bounded() -> None:
    """Process the impressions and clicks produced so far (windows close at the end of input), then stop."""
    _print(flink_job.run_bounded(get_settings(), job=flink_job.ONLINE))


@app.command("lag")
def lag() -> None:
    """Committed offsets of the landing job vs true end offsets."""
    settings = get_settings()
    _print(consumer_lag(settings.kafka_bootstrap, settings.flink_consumer_group, settings.clicks_topic))


@dlq_app.command("show")
def dlq_show() -> None:
    """Print the dead-letter records."""
    _print([{"partition": p, "offset": o, **r} for p, o, r in dead_letters.read_dlq(get_settings())])


@dlq_app.command("replay")
def dlq_replay(
    include_invalid: Annotated[bool, typer.Option(help="also those that still fail validation")] = False,
) -> None:
    """Re-publish DLQ events to the clicks topic."""
    _print(dead_letters.replay_dlq(get_settings(), include_invalid=include_invalid))


@app.command("loadgen")
def loadgen(
    count: int = 1000,
    rate: Annotated[float, typer.Option(help="events/s cap")] = 200.0,
    seed: int = 0,
) -> None:
    """Produce a bounded realistic click stream."""
    _print(produce(get_settings(), count, rate, seed))


if __name__ == "__main__":
    app()
