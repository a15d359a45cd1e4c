"""The component health table of `aladia up` and `aladia status`."""

from __future__ import annotations


def print_status(report) -> None:
    """`aladia status`: components, the slot and connector, streams, recorded data loss, warnings."""
    from aladia_etl.cli.render import err, out
    from aladia_etl.cli.views.stream import schema_change_line

    print_health(report["components"], report.get("cdc"))
    for s in report.get("streams", []):
        line = f"stream {s.get('engine')}/{s.get('stream')}: {s.get('state')}"
        if s.get("alive") and s.get("retrying"):
            line += f" — {s['retrying']}"
        elif s.get("stopped_reason"):
            line += f" ({s['stopped_reason']})"
        line += f"; {s.get('batches', 0)} batches, lag {s.get('lag')}, updated {s.get('updated_at', '?')[:19]}"
        out.print(line, markup=False)
        for change in s.get("schema_changes", [])[-5:]:
            out.print(f"  schema change {str(change.get('at', '?'))[:19]}: {schema_change_line(change)}", markup=False)
    for p in report.get("pipeline", []):
        last = p.get("last_applied_at")
        out.print(
            f"applied by {p['engine']}/{p['stream']}: {p['batches']:,} batches, {p['records']:,} records, "
            f"{p['rows']:,} rows, {p['dead_letters']:,} dead letters"
            + (f", last batch {last:%Y-%m-%d %H:%M:%S}" if last else ""),
            markup=False,
        )
    for t in report.get("tables", []):
        out.print(f"  {t['engine']}/{t['stream']} → {t['table']}: {t['rows']:,} rows", markup=False)
    for g in report.get("gaps", []):
        out.print(f"data loss accepted ({g['engine']}, {g['accepted_at']:%Y-%m-%d %H:%M}): {g['reason']}", markup=False)
    for warning in report.get("warnings", []):
        err.print(f"[yellow]![/yellow] {warning}", highlight=False)


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
    for snap in cdc.get("snapshots", []):
        out.print(snapshot_line(snap), markup=False)


def snapshot_line(snap: dict) -> str:
    """One re-snapshot (`aladia cdc snapshot`): its state, the table being read and where, rows read per table."""
    line = f"snapshot {snap['id'][:8]} of {', '.join(snap['tables']) or '?'}: {snap['state']}"
    if snap.get("current"):
        line += f", reading {snap['current']} (key {snap.get('last_key')} of {snap.get('maximum_key')})"
    if snap.get("rows"):
        line += "; read " + ", ".join(f"{t} {n:,} rows ({snap['scans'].get(t, '?')})" for t, n in snap["rows"].items())
    return line
