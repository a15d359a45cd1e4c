"""`aladia stream`."""

from __future__ import annotations

from typing import cast

import typer

from aladia_etl.cli.context import compiled, number, settings
from aladia_etl.cli.context import duration as duration_option
from aladia_etl.cli.options import json_flag


def register(app: typer.Typer) -> None:
    app.command("stream")(stream)


def _parse_conf(items: list[str]) -> dict[str, str]:
    from aladia_etl.core.errors import UsageError

    conf = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--conf: '{item}' is not key=value", "e.g. --conf spark.executor.memory=2g")
        conf[key.strip()] = value
    return conf


def stream(
    engine: str = typer.Option("spark", "--engine", help="spark or beam.", metavar="spark|beam"),
    until_idle: bool = typer.Option(False, "--until-idle", help="Stop once every CDC topic's lag stays 0."),
    duration: float = typer.Option(
        None, "--duration", callback=number(0, 1e9), help="Stop after this many seconds.", metavar="SECONDS"
    ),
    max_batches: int = typer.Option(
        None, "--max-batches", min=1, help="Stop after this many micro-batches.", metavar="COUNT"
    ),
    trigger_interval: str = typer.Option(
        None,
        "--trigger-interval",
        metavar="DURATION",
        callback=duration_option("--trigger-interval"),
        help="Micro-batch interval (Spark, default 250ms) or pane interval (Beam, default 100ms), e.g. 500ms.",
    ),
    from_beginning: bool = typer.Option(
        False,
        "--from-beginning",
        help="Forget this engine's position and replay every CDC record (idempotent: the warehouse does not change).",
    ),
    settle: float = typer.Option(
        2.0, "--settle", callback=number(0, 3600), help="With --until-idle: seconds of zero lag.", metavar="SECONDS"
    ),
    master: str = typer.Option(
        "local[*]", "--master", help="Spark master: local[*] or spark://host:port.", metavar="URL"
    ),
    conf: list[str] = typer.Option([], "--conf", help="Spark setting key=value (repeatable).", metavar="KEY=VALUE"),
    runner: str = typer.Option(
        None,
        "--runner",
        help="Beam runner (default: Prism, streaming; fnapi: offline micro-batches).",
        metavar="RUNNER",
    ),
    pipeline_option: list[str] = typer.Option(
        [], "--pipeline-option", help="Beam pipeline option (repeatable).", metavar="--KEY=VALUE"
    ),
    max_records: int = typer.Option(
        500_000,
        "--max-records-per-batch",
        min=1,
        max=100_000_000,
        help="Upper bound of Kafka records in one micro-batch.",
        metavar="RECORDS",
    ),
    name: str = typer.Option("default", "--name", help="Stream name (its checkpoint and batch ids).", metavar="NAME"),
    max_outage: float = typer.Option(
        300,
        "--max-outage",
        callback=number(0, 86_400, above=True),
        help="Seconds a service (Kafka, the warehouse) may stay unreachable before the stream stops (exit 4).",
        metavar="SECONDS",
    ),
    accept_data_loss: bool = typer.Option(
        False,
        "--accept-data-loss",
        help="When records were deleted from Kafka before they were applied, record the gap and continue.",
    ),
    metrics_port: int = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve this stream's Prometheus metrics at http://127.0.0.1:PORT/metrics while it runs.",
        metavar="PORT",
    ),
    allow_destructive: bool = typer.Option(
        False,
        "--allow-destructive",
        help="Apply a destructive warehouse change the pipeline implies (drop or narrow a column, drop a table); "
        "see 'aladia pipeline plan'.",
    ),
    as_json: bool = json_flag("the final figures"),
) -> None:
    """Stream CDC events from Kafka into the warehouse with Spark Structured Streaming or Apache Beam."""
    from aladia_etl.cli.render import emit_json, err
    from aladia_etl.cli.views.stream import StreamView
    from aladia_etl.core.names import check
    from aladia_etl.processing.loop import run_stream
    from aladia_etl.processing.model import StreamOptions, check_engine

    options = StreamOptions(
        engine=check_engine(engine.lower()),
        until_idle=until_idle,
        duration=duration,
        max_batches=max_batches,
        trigger_interval=cast("float | None", trigger_interval),  # seconds: what the duration callback returns
        from_beginning=from_beginning,
        settle_s=settle,
        stream_name=check("stream", name, "--name"),
        master=master,
        conf=_parse_conf(conf),
        runner=runner,
        pipeline_options=list(pipeline_option),
        max_records_per_batch=max_records,
        accept_data_loss=accept_data_loss,
        max_outage_s=max_outage,
        metrics_port=metrics_port,
        allow_destructive=allow_destructive,
    )
    pipeline = compiled()  # validated (and its tables read from the source) before anything starts
    options.sinks = None if pipeline.pipeline.path is None else pipeline.spec()
    if pipeline.pipeline.path is not None:
        options.pipeline = pipeline.pipeline
        options.schema_changes = pipeline.pipeline.spec.schema_changes.model_dump()
    with StreamView(err, options.engine, quiet=as_json) as view:
        progress = run_stream(settings(), options, on_progress=view.update)
    if as_json:
        emit_json(progress.as_dict())
    else:
        for note in progress.notes:
            err.print(f"note: {note}", markup=False)
        err.print(
            f"[green]✓[/green] {options.engine}: {progress.batches} batches applied "
            f"({progress.skipped} replayed and skipped), {progress.records:,} records, {progress.rows:,} rows, "
            f"{progress.dead_letters} dead letters, lag {progress.lag}; stopped: {progress.stopped_reason}"
        )
