"""Running the simulated workload on the source: the one sequence (connect → Simulator → load state → run) that
`aladia simulate`, `aladia demo` and `aladia bench` share."""

from __future__ import annotations

import threading
from collections.abc import Callable

from aladia_etl.core.settings import Settings
from aladia_etl.source.simulator import Mix, SimStats, Simulator, check_run


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
    with connect(settings) as conn:
        sim = Simulator(conn, mix, seed)
        sim.load()
        return sim.run(rate=rate, duration=duration, events=events, on_progress=on_progress, stop=stop)
