"""`aladia dlq …`: look at, replay and purge dead letters."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import compiled, settings
from aladia_etl.cli.options import json_flag

app = typer.Typer(help="Dead letters: records that could not become warehouse rows.", no_args_is_help=True)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="dlq")


def _parse(text: str, option: str):
    from datetime import date

    from aladia_etl.core.errors import UsageError

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: '{text}' is not a date", f"use YYYY-MM-DD, e.g. {option} 2026-11-01") from None


def _status(text: str) -> str | None:
    from aladia_etl.core.errors import UsageError
    from aladia_etl.warehouse.dead_letters import STATUSES

    if text == "all":
        return None
    if text not in STATUSES:
        raise UsageError(f"--status: '{text}' is not a status", f"choose from {', '.join(STATUSES)}, all")
    return text


def _connection():
    from aladia_etl.warehouse import loader
    from aladia_etl.warehouse.schema import ensure_schema

    conn = loader.connect(settings())
    ensure_schema(conn)
    return conn


@app.command("list")
def list_(
    since: str = typer.Option(
        None, "--since", help="Only dead letters from this day on (YYYY-MM-DD).", metavar="YYYY-MM-DD"
    ),
    reason: str = typer.Option(None, "--reason", help="Only those whose reason contains this text.", metavar="TEXT"),
    status: str = typer.Option(
        "dead", "--status", help="dead (default), replayed or all.", metavar="dead|replayed|all"
    ),
    limit: int = typer.Option(100, "--limit", min=1, max=100_000, help="At most this many.", metavar="COUNT"),
    table: str = typer.Option(
        None, "--table", metavar="TABLE", help="Only those of this source table (schema.table, or a demo table)."
    ),
    as_json: bool = json_flag(),
) -> None:
    """Dead letters with their reason and where they came from."""
    from aladia_etl.bus.topics import cdc_topic
    from aladia_etl.cli.render import emit_json, out
    from aladia_etl.warehouse.dead_letters import list_dead_letters

    chosen = _status(status)
    day = None if since is None else _parse(since, "--since")
    with _connection() as conn:
        rows = list_dead_letters(
            conn, day, reason, chosen, limit, None if table is None else cdc_topic(settings(), table)
        )
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    if not rows:
        out.print("no dead letters" + ("" if chosen is None else f" with status {chosen}"))
        return
    from rich.table import Table

    listing = Table(show_header=True, header_style="bold")
    for col in ("id", "topic", "partition", "offset", "status", "failed at", "reason"):
        listing.add_column(col)
    for r in rows:
        listing.add_row(
            str(r.id), r.topic, str(r.partition), str(r.offset), r.status, f"{r.failed_at:%Y-%m-%d %H:%M:%S}", r.reason
        )
    out.print(listing)


@app.command("show")
def show(
    dead_letter_id: int = typer.Argument(..., metavar="ID", help="The dead letter's id (see 'aladia dlq list')."),
    as_json: bool = json_flag(help="Print JSON (the bytes as text and base64)."),
) -> None:
    """One dead letter: its original key and value, reason, topic, partition and offset."""
    from aladia_etl.cli.render import emit_json, out
    from aladia_etl.core.errors import AladiaError
    from aladia_etl.warehouse.dead_letters import get

    with _connection() as conn:
        found = get(conn, [dead_letter_id])
    if not found:
        raise AladiaError(f"no dead letter with id {dead_letter_id}", "list them with 'aladia dlq list --status all'")
    row = found[0]
    data = row.as_dict(with_bytes=True)
    if as_json:
        emit_json(data)
        return
    for key in ("id", "topic", "partition", "offset", "engine", "status", "reason", "first_reason", "failed_at"):
        out.print(f"{key}: {data[key]}", markup=False, highlight=False)
    for key in ("key", "value"):
        raw = data[key]
        shown = "null" if raw is None else raw["text"] if raw["text"] is not None else f"base64:{raw['base64']}"
        out.print(f"{key}: {shown}", markup=False, highlight=False)


@app.command("replay")
def replay(
    ids: list[int] = typer.Argument(None, metavar="[ID...]", help="Dead letters to replay."),
    replay_all: bool = typer.Option(False, "--all", help="Replay every dead letter not replayed yet."),
    as_json: bool = json_flag(),
) -> None:
    """Process dead letters again, after a fix, through the same path and merge as the stream.

    Those that now become rows are merged and marked replayed (kept for audit); the others stay dead letters
    with their new reason. Offsets never move."""
    from aladia_etl.cli.render import emit_json, err
    from aladia_etl.core.errors import UsageError
    from aladia_etl.processing.replay import replay as do_replay

    if bool(ids) == replay_all:
        raise UsageError("give dead letter ids or --all (not both)", "e.g. aladia dlq replay 12 13, or --all")
    pipeline = compiled()  # a dead letter is replayed into the pipeline's tables
    sinks = None if pipeline.pipeline.path is None else pipeline.sinks
    result = do_replay(settings(), None if replay_all else list(ids), sinks)
    if as_json:
        emit_json(result.as_dict())
        return
    err.print(
        f"[green]✓[/green] replayed {len(result.replayed)} ({result.rows} warehouse rows changed); "
        f"{len(result.still_dead)} still dead letters; {len(result.skipped)} skipped"
    )
    for i, reason in list(result.still_dead.items())[:20]:
        err.print(f"  {i}: {reason}", markup=False)
    for i, why in list(result.skipped.items())[:20]:
        err.print(f"  {i}: {why}", markup=False)


@app.command("purge")
def purge(
    before: str = typer.Option(
        ..., "--before", help="Delete dead letters that failed before this day (YYYY-MM-DD).", metavar="YYYY-MM-DD"
    ),
    status: str = typer.Option("all", "--status", help="dead, replayed or all (default).", metavar="dead|replayed|all"),
    as_json: bool = json_flag(),
) -> None:
    """Delete old dead letters from the warehouse (the dead-letter topic keeps its own retention)."""
    from aladia_etl.cli.render import emit_json, err
    from aladia_etl.warehouse.dead_letters import purge as do_purge

    chosen = _status(status)
    day = _parse(before, "--before")
    with _connection() as conn:
        deleted = do_purge(conn, day, chosen)
    if as_json:
        emit_json({"deleted": deleted, "before": day})
    else:
        err.print(f"[green]✓[/green] deleted {deleted} dead letters that failed before {day}")
