"""The component health table of `aladia up` and `aladia status`."""

from __future__ import annotations


def print_health(components, cdc=None) -> None:
    from rich.table import Table

    from aladia_etl.cli.render import out

    table = Table(show_header=True, header_style="bold")
    for col in ("component", "state", "pid", "address", "version", "detail"):
        table.add_column(col)
    for h in components:
        h = h if isinstance(h, dict) else h.as_dict()
        state = "[green]healthy[/green]" if h["healthy"] else "[red]unhealthy[/red]"
        table.add_row(h["name"], state, str(h["pid"] or "-"), h["address"], h["version"] or "-", h["detail"])
    out.print(table)
    if not cdc:
        return
    slot = cdc.get("slot")
    if slot:
        if slot.get("present"):
            active = "active" if slot["active"] else "inactive"
            out.print(f"replication slot {slot['slot']}: {active}, retains {slot['retained_wal_bytes']:,} bytes of WAL")
        else:
            out.print(f"replication slot {slot['slot']}: not created yet (register the connector)")
    if "connector" in cdc:
        conn = cdc["connector"]
        if conn is None:
            out.print("connector: not registered ('aladia cdc register')")
        else:
            out.print(f"connector {conn['name']}: {conn['state']} (tasks: {', '.join(conn['tasks']) or 'none'})")
