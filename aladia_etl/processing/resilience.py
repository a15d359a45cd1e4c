"""How a running stream rides out a service's outage (a broker restart, the warehouse refusing connections):
the failed step is retried with capped exponential backoff while the stream reports "retrying" (its live view,
its state file, `aladia status`); a record's fault never comes here (it is a dead letter), and anything fatal, or an
outage longer than the stream's limit, stops the stream with one line and a non-zero exit — nothing is lost, since
offsets only move inside the warehouse transaction that applies a batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from aladia_etl.core.errors import AladiaError, ServiceUnavailable
from aladia_etl.core.faults import SERVICE, Backoff, classify, describe

T = TypeVar("T")


class OutageTooLong(ServiceUnavailable):
    pass


class Stopped(Exception):
    """The stream was asked to stop while a step waited for a service to come back."""


class Outage:
    """One kind of outage (e.g. "warehouse") of one stream: how long it has lasted, when to try again."""

    def __init__(self, what: str, limit_s: float, report: Callable[[str | None], None] | None = None) -> None:
        self.what = what
        self.limit_s = limit_s
        self.backoff = Backoff()
        self.report = report or (lambda status: None)
        self.last_error: str | None = None
        self.next_attempt_at: float | None = None

    @property
    def active(self) -> bool:
        return self.backoff.since is not None

    def failed(self, exc: BaseException, now: float | None = None) -> float:
        """Record a failure; returns the seconds to wait before the next attempt. Raises when the failure is not a
        service's, or when the outage has lasted longer than the limit."""
        if isinstance(exc, AladiaError) and not isinstance(exc, ServiceUnavailable):
            raise exc
        if classify(exc) != SERVICE:
            raise exc
        now = time.monotonic() if now is None else now
        delay = self.backoff.next_delay(now)
        self.last_error = describe(exc)
        outage = self.backoff.outage_s(now)
        if outage >= self.limit_s:
            raise OutageTooLong(
                f"{self.what} unreachable for {outage:.0f} s (limit {self.limit_s:.0f} s): {self.last_error}",
                "bring it back, then restart the stream (nothing was lost: it resumes from the warehouse's offsets); "
                "--max-outage sets the limit",
            ) from None
        self.next_attempt_at = now + delay
        self.report(self.status(now))
        return delay

    def status(self, now: float | None = None) -> str | None:
        if not self.active:
            return None
        now = time.monotonic() if now is None else now
        wait = max(0.0, (self.next_attempt_at or now) - now)
        return (
            f"{self.what} unreachable ({self.last_error}), retrying in {wait:.0f} s, "
            f"{_ordinal(self.backoff.attempt)} attempt, down for {self.backoff.outage_s(now):.0f} s"
        )

    def recovered(self) -> None:
        if self.active:
            self.backoff.reset()
            self.next_attempt_at = None
            self.last_error = None
            self.report(None)

    def retry(self, step: Callable[[], T], stop: threading.Event) -> T:
        """Run `step` until it succeeds (returns its result); raises Stopped when `stop` is set while waiting."""
        while True:
            try:
                result = step()
            except BaseException as exc:  # noqa: BLE001 - classified in failed(): only a service's fault is retried
                if stop.wait(self.failed(exc)):
                    raise Stopped(f"stopped while {self.what} was unreachable") from None
                continue
            self.recovered()
            return result


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
