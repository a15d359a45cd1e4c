"""The reconciliation table of `aladia verify`."""

from __future__ import annotations


def print_verify(report) -> None:
    from rich.markup import escape
    from rich.table import Table

    from aladia_etl.cli.render import err, out

    table = Table(show_header=True, header_style="bold")
    for col in ("table", "source", "warehouse", "missing", "extra", "different", "rejected", ""):
        table.add_column(col)
    for t in report.tables:
        mark = "[green]ok[/green]" if t.ok else "[red]DIFF[/red]"
        table.add_row(
            escape(t.table),
            str(t.source_rows),
            "no table" if t.absent else str(t.warehouse_rows),
            str(len(t.missing)),
            str(len(t.extra)),
            str(len(t.different)),
            str(len(t.rejected)),
            mark,
        )
    s = report.summary
    mark = "[green]ok[/green]" if s.ok else "[red]DIFF[/red]"
    if s.applies:
        table.add_row(
            "daily_sales_summary",
            str(s.days),
            "",
            str(len(s.missing)),
            str(len(s.extra)),
            str(len(s.different)),
            "",
            mark,
        )
    out.print(table)
    for t in report.tables:
        if t.absent:
            err.print(
                f"[yellow]![/yellow] {escape(t.table)} is in the pipeline but not in the warehouse: 'aladia init' and "
                "'aladia cdc register' capture it, or a stream with schema_changes.new_table: capture"
            )
    err.print(
        "[green]✓[/green] warehouse equals the source"
        if report.ok
        else "[red]✗[/red] the warehouse differs from the source"
    )
