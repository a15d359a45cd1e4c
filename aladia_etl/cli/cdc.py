"""`aladia cdc …`: register and operate the Debezium connector."""

from __future__ import annotations

import typer

from aladia_etl.cli.context import compiled, number, reporter, settings
from aladia_etl.cli.options import json_flag

app = typer.Typer(help="Register and operate the Debezium PostgreSQL connector in Kafka Connect.", no_args_is_help=True)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="cdc")


NameArg = typer.Argument(
    None, help="Connector name (default: ALADIA_CDC__CONNECTOR_NAME, 'orders-connector').", metavar="CONNECTOR"
)


def _name(name: str | None) -> str:
    from aladia_etl.core.names import check

    return check("connector", name, "NAME") if name is not None else settings().cdc.connector_name


@app.command("register")
def register_connector(
    name: str = typer.Option(None, "--name", help="Connector name (default: orders-connector).", metavar="CONNECTOR"),
    tables: str = typer.Option(
        None, "--tables", help="Comma-separated tables to capture (default: all).", metavar="SCHEMA.TABLE,..."
    ),
    database_host: str = typer.Option(
        None,
        "--database-host",
        help="PostgreSQL host as seen from the Connect worker (default: the same).",
        metavar="HOST",
    ),
    timeout: float = typer.Option(
        90, callback=number(0, 3600, above=True), help="Seconds to wait for RUNNING.", metavar="SECONDS"
    ),
    as_json: bool = json_flag(),
) -> None:
    """Validate, then create or update the connector, then wait until it and its task are RUNNING."""
    from aladia_etl.bus.policy import check_cleanup_policies
    from aladia_etl.bus.topics import cdc_topics
    from aladia_etl.cdc.connector import check_tables
    from aladia_etl.cdc.service import register as do_register
    from aladia_etl.cli.render import emit_json, err
    from aladia_etl.core.errors import UsageError
    from aladia_etl.core.names import check
    from aladia_etl.source.schema import CAPTURED_TABLES

    if name is not None:
        check("connector", name, "--name")
    pipeline = compiled()  # a pipeline file decides the tables (validated against the source first)
    if pipeline.pipeline.path is not None:
        if tables is not None:
            raise UsageError("--tables: the pipeline file decides the tables", "drop --tables, or edit the file")
        chosen = pipeline.captured
    else:
        chosen = CAPTURED_TABLES if tables is None else tuple(t.strip() for t in tables.split(",") if t.strip())
        if not chosen:
            raise UsageError(
                f"--tables: no table named in {tables!r}", f"e.g. --tables {','.join(CAPTURED_TABLES[:2])}"
            )
        check_tables(chosen)  # an unknown table is a usage error before Kafka is asked anything
    config = settings()
    # compacted CDC topics would lose unapplied changes unnoticed: refused before anything is registered
    check_cleanup_policies(config, cdc_topics(config, chosen))
    result = do_register(config, name, chosen, database_host, timeout, reporter())
    if as_json:
        emit_json(result.as_dict())
    else:
        verb = {"created": "registered", "updated": "updated", "unchanged": "already registered with this config"}
        err.print(f"[green]✓[/green] connector {result.name} {verb[result.action]}; connector and task RUNNING")
    note_partitions(config, chosen)


def note_partitions(config, tables: tuple[str, ...]) -> None:
    """Existing topics keep their partitions: say so when they differ from ALADIA_CDC__TOPIC_PARTITIONS. Only a
    note: the connector is registered whatever Kafka answers here."""
    from aladia_etl.bus.offsets import partition_counts
    from aladia_etl.bus.topics import cdc_topics
    from aladia_etl.cli.render import err

    wanted = config.cdc.topic_partitions
    try:
        other = {t: n for t, n in partition_counts(config, cdc_topics(config, tables)).items() if n != wanted}
    except Exception as exc:  # noqa: BLE001 - a note must not fail the command
        err.print(f"note: could not read the CDC topics' partitions from Kafka ({type(exc).__name__})", markup=False)
        return
    if other:
        topic, count = sorted(other.items())[0]
        err.print(
            f"note: {len(other)} CDC topic(s) already exist with another partition count ({topic}: {count}); "
            f"ALADIA_CDC__TOPIC_PARTITIONS={wanted} applies only to topics Debezium creates. To change it, delete "
            "the connector and its topics, register again (a new snapshot) and stream with --from-beginning.",
            markup=False,
        )


@app.command("status")
def status(name: str = NameArg, as_json: bool = json_flag()) -> None:
    """Connector and task states (with the trace of a failed task)."""
    from aladia_etl.cdc.service import status as get_status
    from aladia_etl.cli.render import emit_json, out

    answer = get_status(settings(), _name(name))
    if as_json:
        emit_json(answer)
        return
    connector = answer.get("connector", {})
    out.print(f"{answer.get('name')}: connector {connector.get('state')} on {connector.get('worker_id')}")
    for task in answer.get("tasks", []):
        out.print(f"  task {task.get('id')}: {task.get('state')}")
        if task.get("trace"):
            out.print("    " + task["trace"].splitlines()[0], markup=False)


@app.command("snapshot")
def snapshot(
    tables: list[str] = typer.Argument(..., help="Captured tables to read again.", metavar="TABLE..."),
    where: str = typer.Option(
        None, "--where", help="Only the rows this SQL condition selects (on each table's columns).", metavar="SQL"
    ),
    wait: bool = typer.Option(False, "--wait", help="Return when Debezium has read every table."),
    timeout: float = typer.Option(
        600, callback=number(0, 86400, above=True), help="Seconds --wait waits.", metavar="SECONDS"
    ),
    as_json: bool = json_flag(),
) -> None:
    """Read tables again while the stream runs (Debezium's incremental snapshot): repairs a warehouse table without
    touching the others; a snapshot row never overwrites a newer change, and deleted rows stay deleted.

    Example: aladia cdc snapshot products --where "id > 1000" --wait"""
    from aladia_etl.cdc import snapshots
    from aladia_etl.cli.render import emit_json, err

    compiled()  # a pipeline file decides what is captured
    config = settings()
    chosen = snapshots.resolve(tuple(tables), config.capture)
    ident = snapshots.request(config, chosen, where)
    item = snapshots.wait(config, ident, timeout, reporter()) if wait else None
    if as_json:
        emit_json({"id": ident, "tables": list(chosen), "where": where, "progress": item and item.as_dict()})
        return
    from rich.markup import escape

    if item is None:
        message = (
            f"snapshot {ident} of {', '.join(chosen)} requested; the stream applies its rows as Debezium reads "
            "them — progress in 'aladia status'"
        )
    else:
        rows = ", ".join(f"{t} {n:,} rows" for t, n in item.rows.items())
        message = f"snapshot {ident} read by Debezium: {rows}; the stream applies the rows"
    err.print(f"[green]✓[/green] {escape(message)}")


@app.command("list")
def list_(as_json: bool = json_flag()) -> None:
    """Connectors registered in the Connect cluster, with their states."""
    from aladia_etl.cdc.service import list_connectors
    from aladia_etl.cli.render import emit_json, out

    connectors = list_connectors(settings())
    if as_json:
        emit_json(connectors)
        return
    if not connectors:
        out.print("no connectors registered")
    for cname, st in connectors.items():
        tasks = ", ".join(t.get("state", "?") for t in st.get("tasks", []))
        out.print(f"{cname}: {st.get('connector', {}).get('state')} (tasks: {tasks or 'none'})")


@app.command("pause")
def pause(name: str = NameArg) -> None:
    """Pause the connector."""
    from aladia_etl.cdc.service import pause as do_pause
    from aladia_etl.cli.render import err

    do_pause(settings(), _name(name))
    err.print(f"[green]✓[/green] pause requested for {_name(name)}")


@app.command("resume")
def resume(name: str = NameArg) -> None:
    """Resume a paused connector."""
    from aladia_etl.cdc.service import resume as do_resume
    from aladia_etl.cli.render import err

    do_resume(settings(), _name(name))
    err.print(f"[green]✓[/green] resume requested for {_name(name)}")


@app.command("restart")
def restart(
    name: str = NameArg,
    include_tasks: bool = typer.Option(False, "--include-tasks", help="Restart the tasks too."),
    only_failed: bool = typer.Option(False, "--only-failed", help="Restart only failed instances."),
) -> None:
    """Restart the connector (and optionally its tasks)."""
    from aladia_etl.cdc.service import restart as do_restart
    from aladia_etl.cli.render import err

    do_restart(settings(), _name(name), include_tasks, only_failed)
    err.print(f"[green]✓[/green] restart requested for {_name(name)}")


@app.command("delete")
def delete(
    name: str = NameArg,
    drop_slot: bool = typer.Option(False, "--drop-slot", help="Also drop its replication slot (frees retained WAL)."),
) -> None:
    """Delete the connector (and optionally its replication slot)."""
    from aladia_etl.cdc.service import delete as do_delete
    from aladia_etl.cli.render import err

    result = do_delete(settings(), _name(name), drop_slot)
    err.print(f"[green]✓[/green] deleted connector {result['deleted']}")
    if drop_slot:
        slot = result["slot_dropped"]
        err.print(f"[green]✓[/green] dropped replication slot {slot}" if slot else "no replication slot to drop")


@app.command("config")
def config(name: str = NameArg, as_json: bool = json_flag()) -> None:
    """The connector's configuration, secrets masked."""
    from aladia_etl.cdc.service import config as get_config
    from aladia_etl.cli.render import emit_json, out

    data = get_config(settings(), _name(name))
    if as_json:
        emit_json(data)
        return
    for key in sorted(data):
        out.print(f"{key} = {data[key]}", markup=False)
