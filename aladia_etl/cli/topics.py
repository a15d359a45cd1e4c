"""`aladia topics`."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import settings
from aladia_etl.cli.options import json_flag


def register(app: typer.Typer) -> None:
    app.command("topics")(topics)


def topics(
    groups: bool = typer.Option(False, "--groups", help="Also show consumer-group lag per topic."),
    include_internal: bool = typer.Option(False, "--all", help="Include internal topics."),
    as_json: bool = json_flag(),
) -> None:
    """Topics with partitions and end offsets (and consumer-group lag with --groups)."""
    from aladia_etl.bus.offsets import describe_topics, group_lags
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
