"""How core code reports progress without printing: a small reporter interface.

The CLI passes a rich implementation; tests and library callers get the silent default.
"""

from __future__ import annotations


class Task:
    """A unit of work with optional progress; `advance` and `update` may be called from one thread."""

    def advance(self, amount: float = 1, description: str | None = None) -> None:
        pass

    def update(
        self, *, completed: float | None = None, total: float | None = None, description: str | None = None
    ) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Reporter:
    """Silent reporter; subclasses render."""

    def info(self, message: str) -> None:
        pass

    def success(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass

    def task(self, description: str, total: float | None = None) -> Task:
        return Task()


SILENT = Reporter()
