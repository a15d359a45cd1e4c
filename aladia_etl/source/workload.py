"""Running the simulated workload on the source: the one sequence (connect → Simulator → load state → run) that
`aladia simulate`, `aladia demo` and `aladia bench` share.

A source that restarts or drops the connection mid-run (a service's fault) does not end the workload: it
reconnects with backoff, reloads its view of the data (the transaction in flight was rolled back, or may have
committed: the database is the truth) and goes on with what remains of the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from aladia_etl.core.errors import ServiceUnavailable
from aladia_etl.core.faults import SERVICE, Backoff, classify, describe
from aladia_etl.core.settings import Settings
from aladia_etl.source.simulator import Mix, SimStats, Simulator, check_run

MAX_OUTAGE_S = 120.0


def simulate(
    settings: Settings,
    *,
    rate: float | None = None,
    duration: float | None = None,
    events: int | None = None,
    mix: Mix = Mix(),
    seed: int | None = None,
    on_progress: Callable[[SimStats], None] | None = None,
    stop: threading.Event | None = None,
) -> SimStats:
    from aladia_etl.source.bootstrap import connect

    check_run(rate, duration, events)
    stop = stop or threading.Event()
    total = SimStats()
    started = time.monotonic()
    backoff = Backoff()
    attempt = 0
    while True:
        left_s = None if duration is None else duration - (time.monotonic() - started)
        left_events = None if events is None else events - total.total
        if (left_s is not None and left_s <= 0) or (left_events is not None and left_events <= 0):
            break
        sim: Simulator | None = None
        try:
            with connect(settings) as conn:
                sim = Simulator(conn, mix, None if seed is None else seed + attempt)
                sim.load()
                _add(total, sim.run(rate=rate, duration=left_s, events=left_events, on_progress=on_progress, stop=stop))
            backoff.reset()
            break
        except Exception as exc:
            if sim is not None and getattr(sim, "stats", None) is not None:
                _add(total, sim.stats)
            if classify(exc) != SERVICE:
                raise
            attempt += 1
            delay = backoff.next_delay(time.monotonic())
            if backoff.outage_s(time.monotonic()) > MAX_OUTAGE_S:
                raise ServiceUnavailable(
                    f"the source database was unreachable for more than {MAX_OUTAGE_S:.0f} s: {describe(exc)}",
                    "start it with 'aladia up' and run the workload again",
                ) from None
            if stop.wait(delay):
                break
    total.elapsed_s = time.monotonic() - started
    total.interrupted = stop.is_set()
    return total


def _add(total: SimStats, part: SimStats) -> None:
    total.changes.update(part.changes)
    total.transactions += part.transactions
