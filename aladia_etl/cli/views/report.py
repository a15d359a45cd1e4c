"""Terminal rendering of the report: every table of the report model as a rich table."""

from __future__ import annotations

from typing import Any

from rich.table import Table as RichTable

from aladia_etl.analytics.model import Table, display, sections
from aladia_etl.cli.render import out


def rich_table(table: Table) -> RichTable:
    """One table of the report model: its columns (numbers right-aligned) and the rows people see."""
    view = RichTable(
        title=table.title,
        caption=table.note or None,
        show_header=True,
        header_style="bold",
        title_justify="left",
        caption_justify="left",
    )
    for column in table.columns:
        view.add_column(column.label, justify="right" if column.numeric else "left")
    for row in table.shown():
        view.add_row(*(display(v) for v in table.cells(row)))
    return view


def print_table(table: Table) -> None:
    """A table, a bulleted list, or one line saying it has no rows (never an empty table)."""
    if not table.shown():
        out.print(f"[bold]{table.title}[/bold]: [dim]none[/dim]")
        return
    if table.as_list:
        out.print(f"[bold]{table.title}[/bold]")
        for row in table.shown():
            out.print(f"  • {display(row[table.keys[0]])}", markup=False)
        return
    out.print(rich_table(table))


def print_report(report: dict[str, Any]) -> None:
    for section in sections(report):
        for table in section.tables:
            print_table(table)
