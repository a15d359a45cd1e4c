"""Rendering for the terminal: the rich reporter, error lines, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

from aladia_etl.core.progress import Reporter, Task


class MaskedStream:
    """A text stream whose every write goes through the one masking function (`core.secrets.mask`): whatever a
    command prints — results, notes, errors, JSON — shows no secret."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from aladia_etl.core.secrets import mask

        try:
            self._stream.write(mask(text))
        except BrokenPipeError:  # the reader went away (`aladia … | head`): the rest goes nowhere
            quiet_stdout()
        return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            quiet_stdout()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def quiet_stdout() -> None:
    """Point standard output at /dev/null: its reader went away, and nothing written later (nor the flush at exit)
    may fail into the closed pipe. The command still ends with its own exit code."""
    import os

    if sys.__stdout__ is None:  # no standard output at all (pythonw)
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
        os.close(devnull)
    except (OSError, AttributeError, ValueError):
        pass


def mask_standard_streams() -> None:
    """Route sys.stdout and sys.stderr through the masking (once per process)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, MaskedStream):
            setattr(sys, name, MaskedStream(stream))


out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def use_log_format(log_format: str) -> None:
    """json: what commands write to stderr (notes, progress lines, summaries) becomes log records, one JSON object
    per line; text: the terminal as usual."""
    import logging

    from aladia_etl.core.logs import LogLines

    # None: rich's own stream again (its setter is typed IO[str] only)
    err.file = LogLines(logging.getLogger("aladia.cli")) if log_format == "json" else None  # type: ignore[assignment]


def emit_json(data: Any) -> None:
    from aladia_etl.analytics.export import plain
    from aladia_etl.core.secrets import mask_data

    sys.stdout.write(json.dumps(mask_data(plain(data)), indent=2) + "\n")
    sys.stdout.flush()


class _RichTask(Task):
    def __init__(self, progress: Progress, description: str, total: float | None) -> None:
        self._progress = progress
        self._id = progress.add_task(description, total=total)
        progress.start()

    def advance(self, amount: float = 1, description: str | None = None) -> None:
        # rich leaves what is None unchanged
        self._progress.update(self._id, advance=amount, description=description or None)

    def update(
        self, *, completed: float | None = None, total: float | None = None, description: str | None = None
    ) -> None:
        self._progress.update(self._id, completed=completed, total=total, description=description)

    def close(self) -> None:
        self._progress.stop()


class RichReporter(Reporter):
    def __init__(self, console: Console = err) -> None:
        self.console = console

    def info(self, message: str) -> None:
        self.console.print(f"[dim]•[/dim] {message}", markup=True, highlight=False)

    def success(self, message: str) -> None:
        self.console.print(f"[green]✓[/green] {message}")

    def warning(self, message: str) -> None:
        self.console.print(f"[yellow]![/yellow] {message}")

    def task(self, description: str, total: float | None = None) -> Task:
        if not self.console.is_terminal:
            self.console.print(f"[dim]…[/dim] {description}")
            return Task()
        columns = [SpinnerColumn(), TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(), TaskProgressColumn()]
        columns.append(TimeElapsedColumn())
        progress = Progress(*columns, console=self.console, transient=True)
        return _RichTask(progress, description, total)


def print_error(message: str, detail: str | None = None) -> None:
    from rich.markup import escape

    # the message is text, not markup: "pip install 'aladia-etl[notebook]'" keeps its brackets
    err.print(f"[bold red]error:[/bold red] {escape(message)}", markup=True, highlight=False)
    if detail:
        err.print(detail, markup=False, highlight=False, style="dim")
