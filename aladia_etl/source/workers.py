"""How a simulated run is shared between workers, and what it counts: the run's checks, the split of --events and
--rate, which worker owns which rows, and `SimStats`.

Ownership is a function of the data alone, so that every worker computes the same partition when it loads its
share: a customer belongs to worker `id % workers`, an order and its items to its customer's worker, a product (to
reprice) to worker `id % workers`. Rows a worker creates are its own until the next load.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from aladia_etl.core.errors import UsageError

MAX_WORKERS = 64
MAX_TXN_SIZE = 1000


@dataclass
class SimStats:
    changes: Counter = field(default_factory=Counter)  # (table, op) -> rows; op in c/u/d
    transactions: int = 0
    elapsed_s: float = 0.0
    interrupted: bool = False
    workers: int = 1
    txn_size: int = 1  # the changes a transaction was planned to hold (its last operation may add a few)
    retries: int = 0  # transactions sent again after a serialization failure or a deadlock

    @property
    def total(self) -> int:
        return sum(self.changes.values())

    @property
    def deletes(self) -> int:
        return sum(n for (_, op), n in self.changes.items() if op == "d")

    @property
    def cdc_records(self) -> int:
        """Records Debezium publishes for these changes: one per change, plus a tombstone per delete."""
        return self.total + self.deletes

    @property
    def rate(self) -> float:
        return self.total / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def add(self, part: SimStats) -> None:
        """Count another worker's (or an earlier attempt's) changes in these."""
        self.changes.update(part.changes)
        self.transactions += part.transactions
        self.retries += part.retries

    def by_table(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (table, op), count in sorted(self.changes.items()):
            out.setdefault(table, {})[op] = count
        return out

    def as_dict(self) -> dict:
        return {
            "changes": self.total,
            "transactions": self.transactions,
            "elapsed_s": round(self.elapsed_s, 3),
            "rate": round(self.rate, 1),
            "interrupted": self.interrupted,
            "workers": self.workers,
            "txn_size": self.txn_size,
            "retries": self.retries,
            "by_table": self.by_table(),
        }


def check_run(
    rate: float | None, duration: float | None, events: int | None, workers: int = 1, txn_size: int = 1
) -> None:
    """The run's sizes, checked before anything connects."""
    if duration is None and events is None:
        raise UsageError("simulate needs --duration or --events", "e.g. aladia simulate --events 1000")
    if rate is not None and not (0 < rate < math.inf):
        raise UsageError("--rate must be a positive number", "e.g. --rate 200")
    if duration is not None and not (0 < duration < math.inf):
        raise UsageError("--duration must be a positive number of seconds", "e.g. --duration 30")
    if events is not None and events < 1:
        raise UsageError("--events must be at least 1", "e.g. --events 1000")
    if type(workers) is not int or not 1 <= workers <= MAX_WORKERS:
        raise UsageError(f"--workers must be a whole number from 1 to {MAX_WORKERS}", "e.g. --workers 4")
    if type(txn_size) is not int or not 1 <= txn_size <= MAX_TXN_SIZE:
        raise UsageError(f"--txn-size must be a whole number from 1 to {MAX_TXN_SIZE}", "e.g. --txn-size 10")


def owner(row_id: int, workers: int) -> int:
    """The worker that owns a customer (and its orders) or reprices a product: the same rule as the SQL that
    loads a worker's share (`mod(id, workers) = worker`)."""
    return row_id % workers


def split_events(events: int | None, workers: int) -> list[int | None]:
    """Each worker's exact share of --events (the first ones take the remainder); None for a --duration run."""
    if events is None:
        return [None] * workers
    share, extra = divmod(events, workers)
    return [share + (1 if w < extra else 0) for w in range(workers)]


def worker_rate(rate: float | None, active: int) -> float | None:
    """Each running worker's pace, so that together they keep the combined --rate."""
    return None if rate is None else rate / active


def worker_seed(seed: int | None, worker: int, workers: int, attempt: int = 0) -> int | None:
    """seed + worker index on the first attempt (a single worker: seed, seed + 1 after a reconnect, … as before)."""
    return None if seed is None else seed + worker + attempt * workers
