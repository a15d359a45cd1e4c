"""The live view of `aladia stream`: batches, events/s, lag, dead letters."""

from __future__ import annotations

from rich.console import Console
from rich.live import Live
from rich.table import Table


def schema_change_line(change: dict) -> str:
    """`table kind column (old → new) — outcome`, as `stream` and `status` say a schema change."""
    detail = f" ({change['detail']})" if change.get("detail") else ""
    kind = str(change.get("kind", "?")).replace("_", " ")
    return f"{change.get('table')} {kind} {change.get('column')}{detail} — {change.get('outcome')}"


class StreamView:
    def __init__(self, console: Console, engine: str, quiet: bool = False) -> None:
        self.console = console
        self.engine = engine
        self.quiet = quiet or not console.is_terminal
        self.json = quiet
        self._live: Live | None = None
        self._changes_shown = 0

    def __enter__(self) -> StreamView:
        if not self.quiet:
            self._live = Live(self._render(None), console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        else:
            self.console.print(f"[dim]…[/dim] streaming with {self.engine}")
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def update(self, progress) -> None:
        if self._live is not None:
            self._live.update(self._render(progress))
        if not self.json:  # a column added or dropped in the source: said as it happens (--json: in its output)
            for change in progress.schema_changes[self._changes_shown :]:
                self.console.print(f"schema change: {schema_change_line(change)}", markup=False)
            self._changes_shown = len(progress.schema_changes)

    def _render(self, p) -> Table:
        caption = None if p is None or not p.retrying else f"[yellow]retrying:[/yellow] {p.retrying}"
        table = Table(title=f"aladia stream — {self.engine}", caption=caption, show_header=True, header_style="bold")
        for col in ("state", "batches", "records", "rows", "events/s", "lag", "dead letters", "elapsed"):
            table.add_column(col, justify="right")
        if p is None:
            table.add_row("starting", "-", "-", "-", "-", "-", "-", "-")
        else:
            table.add_row(
                p.state,
                f"{p.batches} (+{p.skipped} skipped)",
                f"{p.records:,}",
                f"{p.rows:,}",
                f"{p.events_per_s:,.0f}",
                "-" if p.lag is None else f"{p.lag:,}",
                str(p.dead_letters),
                f"{p.elapsed_s:,.0f}s",
            )
        return table
