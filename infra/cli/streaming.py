"""`movierec streaming ...`: the local broker, topics, the Flink landing job, lag, dead letters, load generator."""

from __future__ import annotations

from typing import Annotated

import typer

from infra.cli.output import emit
from pipelines.settings import get_settings

app = typer.Typer(no_args_is_help=True, help="Kafka-protocol broker, topics and the PyFlink landing job.")
broker_app = typer.Typer(no_args_is_help=True, help="The local tansu broker.")
topics_app = typer.Typer(no_args_is_help=True, help="Topics as code.")
job_app = typer.Typer(no_args_is_help=True, help="The Flink landing job.")
dlq_app = typer.Typer(no_args_is_help=True, help="The dead-letter topic.")
app.add_typer(broker_app, name="broker")
app.add_typer(topics_app, name="topics")
app.add_typer(job_app, name="job")
app.add_typer(dlq_app, name="dlq")


@broker_app.command("start")
def broker_start(
    storage_engine: Annotated[str, typer.Option(help="memory://tansu/ or s3://tansu/")] = "memory://tansu/",
):
    """Start the broker (PID file under var/pids)."""
    from infra import broker

    settings = get_settings()
    emit({"pid": broker.start_broker(settings, storage_engine), "bootstrap": settings.kafka_bootstrap})


@broker_app.command("stop")
def broker_stop():
    """Stop the broker this project started (by PID)."""
    from infra import broker

    emit({"stopped": broker.stop_broker(get_settings())})


@broker_app.command("status")
def broker_status():
    from infra import broker

    emit(broker.broker_status(get_settings()))


@topics_app.command("create")
def topics_create():
    """Create the clicks and DLQ topics if missing."""
    from streaming.topics import ensure_topics

    emit(ensure_topics(get_settings()))


@job_app.command("start")
def job_start(fresh: Annotated[bool, typer.Option(help="ignore retained checkpoints")] = False):
    """Long-running landing job; restores from the latest retained checkpoint."""
    from infra import flink_job

    settings = get_settings()
    emit({"pid": flink_job.start_job(settings, fresh=fresh), **flink_job.read_status(settings)})


@job_app.command("stop")
def job_stop():
    from infra import flink_job

    emit({"stopped": flink_job.stop_job(get_settings())})


@job_app.command("status")
def job_status():
    from infra import flink_job

    emit(flink_job.job_status(get_settings()))


@job_app.command("run-bounded")
def job_run_bounded():
    """Land everything produced so far, then stop."""
    from infra import flink_job

    emit(flink_job.run_bounded(get_settings()))


@app.command("lag")
def lag():
    """Committed offsets of the landing job vs the true end offsets."""
    from streaming.offsets import lag as consumer_lag

    settings = get_settings()
    emit(consumer_lag(settings.kafka_bootstrap, settings.flink_consumer_group, settings.clicks_topic))


@dlq_app.command("show")
def dlq_show():
    """Print the dead-letter records."""
    from streaming import dlq

    emit([{"partition": p, "offset": o, **r} for p, o, r in dlq.read_dlq(get_settings())])


@dlq_app.command("replay")
def dlq_replay(
    include_invalid: Annotated[bool, typer.Option(help="also those that still fail validation")] = False,
):
    """Re-publish dead-lettered events to the clicks topic."""
    from streaming import dlq

    emit(dlq.replay_dlq(get_settings(), include_invalid=include_invalid))


@app.command("loadgen")
def loadgen(
    count: int = 1000, rate: Annotated[float, typer.Option(help="events/s cap")] = 200.0, seed: int = 0
):
    """Produce a bounded, realistic click stream."""
    from streaming.loadgen import produce

    emit(produce(get_settings(), count, rate, seed))
