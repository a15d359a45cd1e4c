"""`aladia topics`, `aladia consume`, `aladia produce`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import settings


def register(app: typer.Typer) -> None:
    app.command("topics")(topics)
    app.command("consume")(consume)
    app.command("produce")(produce)


def topics(
    groups: bool = typer.Option(False, "--groups", help="Also show consumer-group lag per topic."),
    include_internal: bool = typer.Option(False, "--all", help="Include internal topics."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Topics with partitions and end offsets (and consumer-group lag with --groups)."""
    from aladia_etl.bus.topics import describe_topics, group_lags
    from aladia_etl.cli.render import emit_json, out

    infos = describe_topics(settings(), include_internal)
    lags = group_lags(settings(), infos) if groups else []
    if as_json:
        data = {"topics": [t.as_dict() for t in infos]}
        if groups:
            data["groups"] = [g.as_dict() for g in lags]
        emit_json(data)
        return
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    for col in ("topic", "partitions", "messages", "end offsets"):
        table.add_column(col)
    for t in infos:
        ends = ", ".join(f"{p}:{o}" for p, o in t.end_offsets.items())
        table.add_row(t.name, str(len(t.partitions)), str(t.messages), ends)
    out.print(table)
    if groups:
        gt = Table(show_header=True, header_style="bold")
        for col in ("group", "topic", "committed", "lag"):
            gt.add_column(col)
        for g in lags:
            gt.add_row(g.group, g.topic, ", ".join(f"{p}:{o}" for p, o in g.committed.items()), str(g.lag))
        out.print(gt)


def consume(
    topic: str = typer.Argument(..., help="Topic to read."),
    from_beginning: bool = typer.Option(False, "--from-beginning", help="Start at the earliest offset."),
    max_messages: int = typer.Option(None, "--max", min=1, help="Stop after this many records."),
    timeout: float = typer.Option(5.0, "--timeout", help="Stop after this many seconds without a record."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Print records; Debezium envelopes are shown as op, table, LSN, commit time, before/after; tombstones too."""
    import json

    from aladia_etl.bus.envelope import describe
    from aladia_etl.bus.io import consume as do_consume
    from aladia_etl.cli.render import out

    for summary in do_consume(settings(), topic, from_beginning, max_messages, timeout):
        if as_json:
            print(json.dumps(summary, default=str), flush=True)
        else:
            out.print(describe(summary), markup=False)


def produce(
    topic: str = typer.Argument(..., help="Topic to write to."),
    count: int = typer.Option(10, "--count", min=1, help="How many sample messages."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Produce sample JSON messages."""
    from aladia_etl.bus.io import produce_samples
    from aladia_etl.cli.render import emit_json, err

    result = produce_samples(settings(), topic, count)
    if as_json:
        emit_json(result)
    else:
        err.print(
            f"[green]✓[/green] produced {count} messages to {topic} "
            f"(offsets {result['first_offset']}–{result['last_offset']})"
        )
