"""Running the simulated workload on the source: the one sequence (connect → Simulator → load state → run) that
`aladia simulate`, `aladia demo` and `aladia bench` share.

`workers` Simulators run in threads (psycopg releases the GIL while it waits on the server), each on its own
connection and its own share of the data (`source.workers`), each with its exact share of --events and of the
combined --rate. Every worker loads its share before any of them writes, so that a row one worker creates is never
also loaded by another.

A source that restarts or drops a connection mid-run (a service's fault) does not end the workload: the other
workers finish the transaction they have in flight, then every worker reconnects with backoff, reloads its share
(the transaction in flight was rolled back, or may have committed: the database is the truth) and goes on with
what remains of its part of the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from aladia_etl.core.errors import ServiceUnavailable
from aladia_etl.core.faults import SERVICE, Backoff, classify, describe
from aladia_etl.core.settings import Settings
from aladia_etl.core.signals import stop_on_signals
from aladia_etl.source.simulator import Mix, Simulator
from aladia_etl.source.workers import SimStats, check_run, split_events, worker_rate, worker_seed

MAX_OUTAGE_S = 120.0
PROGRESS_S = 0.1


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
    workers: int = 1,
    txn_size: int = 1,
) -> SimStats:
    check_run(rate, duration, events, workers, txn_size)
    stop = stop or threading.Event()
    quotas = split_events(events, workers)
    done = [SimStats() for _ in range(workers)]  # what each worker committed in earlier attempts
    started = time.monotonic()
    # the rate is changes per second of writing: from when the workers, connected and loaded, began to write (loading
    # a large source's state took seconds that counted against the rate: 6 % short of 1,000 changes/s in the bench)
    clock = _Clock(started)
    backoff = Backoff()
    attempt = 0
    with stop_on_signals(stop):
        while not stop.is_set():
            left_s = None if duration is None else duration - (time.monotonic() - started)
            left = {w: None if q is None else q - done[w].total for w, q in enumerate(quotas)}
            active = [w for w, n in left.items() if n is None or n > 0]
            if (left_s is not None and left_s <= 0) or not active:
                break
            run = _Attempt(settings, mix, workers, txn_size, worker_rate(rate, len(active)), left_s, stop, clock)
            try:
                run.run({w: (worker_seed(seed, w, workers, attempt), left[w]) for w in active}, done, on_progress)
                backoff.reset()
                break
            except Exception as exc:
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
    total = _sum(done, workers, txn_size)
    total.elapsed_s = time.monotonic() - clock.writing_since
    total.interrupted = stop.is_set()
    return total


def _sum(parts, workers: int, txn_size: int) -> SimStats:
    total = SimStats(workers=workers, txn_size=txn_size)
    for part in parts:
        total.add(part)
    return total


class _Clock:
    """When the run began, and when its workers first began to write (the first attempt's barrier)."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.writing: float | None = None

    def begin_writing(self) -> None:
        if self.writing is None:
            self.writing = time.monotonic()

    @property
    def writing_since(self) -> float:
        return self.started if self.writing is None else self.writing

    def writing_for(self) -> float:
        """Seconds of writing so far (0 while the workers still load the source's state)."""
        return 0.0 if self.writing is None else time.monotonic() - self.writing


class _Attempt:
    """The workers' threads from connecting until each has done its part, or until one of them fails."""

    def __init__(self, settings, mix, workers, txn_size, rate, duration, stop, clock: _Clock) -> None:
        self.settings, self.mix, self.workers, self.txn_size = settings, mix, workers, txn_size
        self.rate, self.duration, self.stop, self.clock = rate, duration, stop, clock
        self.halt = threading.Event()  # the workers' own stop: set by Ctrl-C (`stop`) or by a worker's failure
        self.sims: dict[int, Simulator] = {}
        self.failures: list[BaseException] = []

    def run(self, plan: dict[int, tuple[int | None, int | None]], done: list[SimStats], on_progress) -> None:
        """`plan`: worker → (RNG seed, events left). Adds what each worker committed to `done`, then raises the
        first failure (one that is not a service's fault first)."""
        barrier = threading.Barrier(len(plan), action=self.clock.begin_writing)
        threads = [
            threading.Thread(target=self._work, args=(w, seed, events, barrier), name=f"aladia-simulate-{w}")
            for w, (seed, events) in plan.items()
        ]
        try:
            for thread in threads:
                thread.start()
            while alive := [t for t in threads if t.is_alive()]:
                alive[0].join(PROGRESS_S)
                if self.stop.is_set():
                    self.halt.set()
                if on_progress:
                    progress = _sum([*done, *self._live()], self.workers, self.txn_size)
                    progress.elapsed_s = self.clock.writing_for()
                    on_progress(progress)
        finally:
            self.halt.set()
            for thread in threads:
                thread.join()
        for w, sim in self.sims.items():
            if getattr(sim, "stats", None) is not None:
                done[w].add(sim.stats)
        if self.failures:
            fatal = [exc for exc in self.failures if classify(exc) != SERVICE]
            raise (fatal or self.failures)[0]

    def _live(self) -> list[SimStats]:
        out = []
        for sim in list(self.sims.values()):
            if getattr(sim, "stats", None) is not None:
                with sim.lock:
                    part = SimStats()
                    part.add(sim.stats)
                out.append(part)
        return out

    def _work(self, worker: int, seed: int | None, events: int | None, barrier: threading.Barrier) -> None:
        from aladia_etl.source.bootstrap import connect

        try:
            with connect(self.settings, autocommit=True) as conn:
                sim = Simulator(conn, self.mix, seed, worker=worker, workers=self.workers)
                sim.load()
                self.sims[worker] = sim
                barrier.wait()  # nobody writes before every share is loaded
                sim.run(rate=self.rate, duration=self.duration, events=events, stop=self.halt, txn_size=self.txn_size)
        except threading.BrokenBarrierError:
            pass  # another worker failed before the run began: its failure is the one reported
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self.failures.append(exc)
            barrier.abort()
            self.halt.set()
