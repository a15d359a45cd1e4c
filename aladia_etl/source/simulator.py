"""`aladia simulate`: a realistic order workload on the source database, committed in transactions and paced.

Every change (a row inserted, updated or deleted) is counted per table and operation, so that the number of change
events Debezium emits can be checked against it.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from aladia_etl.core.errors import UsageError
from aladia_etl.core.signals import stop_on_signals
from aladia_etl.source.schema import LIFECYCLE
from aladia_etl.source.seed import customer_row, money, product_row

OPS = ("insert", "update", "delete")


@dataclass(frozen=True)
class Mix:
    insert: float = 0.5
    update: float = 0.4
    delete: float = 0.1

    @classmethod
    def parse(cls, text: str) -> Mix:
        """'insert=5,update=4,delete=1' → weights; omitted operations get 0."""
        weights = dict.fromkeys(OPS, 0.0)
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            name = name.strip().lower()
            if not sep or name not in weights:
                raise UsageError(f"--mix: '{part}' is not op=weight", "use e.g. --mix insert=5,update=4,delete=1")
            try:
                weights[name] = float(value)
                if not math.isfinite(weights[name]):
                    raise ValueError(value)
            except ValueError:
                raise UsageError(
                    f"--mix: weight '{value}' of {name} is not a number", "use e.g. --mix insert=5,update=4,delete=1"
                ) from None
            if weights[name] < 0:
                raise UsageError(f"--mix: weight of {name} is negative", "weights must be >= 0")
        if sum(weights.values()) <= 0:
            raise UsageError("--mix: all weights are zero", "give at least one operation a positive weight")
        return cls(**weights)


@dataclass
class SimStats:
    changes: Counter = field(default_factory=Counter)  # (table, op) -> rows; op in c/u/d
    transactions: int = 0
    elapsed_s: float = 0.0
    interrupted: bool = False

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
            "by_table": self.by_table(),
        }


def check_run(rate: float | None, duration: float | None, events: int | None) -> None:
    """The run's sizes, checked before anything connects."""
    if duration is None and events is None:
        raise UsageError("simulate needs --duration or --events", "e.g. aladia simulate --events 1000")
    if rate is not None and not (0 < rate < math.inf):
        raise UsageError("--rate must be a positive number", "e.g. --rate 200")
    if duration is not None and not (0 < duration < math.inf):
        raise UsageError("--duration must be a positive number of seconds", "e.g. --duration 30")
    if events is not None and events < 1:
        raise UsageError("--events must be at least 1", "e.g. --events 1000")


class _Pool:
    """A set with O(1) add, remove and random choice."""

    def __init__(self, items=()) -> None:
        self._items: list[int] = []
        self._index: dict[int, int] = {}
        for item in items:
            self.add(item)

    def add(self, item: int) -> None:
        if item not in self._index:
            self._index[item] = len(self._items)
            self._items.append(item)

    def discard(self, item: int) -> None:
        index = self._index.pop(item, None)
        if index is None:
            return
        last = self._items.pop()
        if index < len(self._items):
            self._items[index] = last
            self._index[last] = index

    def choice(self, rng: random.Random) -> int | None:
        return rng.choice(self._items) if self._items else None

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: int) -> bool:
        return item in self._index


@dataclass
class _Order:
    customer_id: int
    status: str
    items: dict[int, tuple[int, int, Decimal]]  # item id -> (product id, quantity, unit price)

    def total(self) -> Decimal:
        return sum((q * p for _, q, p in self.items.values()), Decimal("0.00"))


class Simulator:
    def __init__(self, conn, mix: Mix = Mix(), rng_seed: int | None = None) -> None:
        self.conn = conn
        self.mix = mix
        self.rng = random.Random(rng_seed)
        self.customers = _Pool()
        self.products: dict[int, Decimal] = {}
        self.product_pool = _Pool()
        self.orders: dict[int, _Order] = {}
        self.open_orders = _Pool()  # status with a next step in the lifecycle
        self.pending_orders = _Pool()
        self.customer_orders: Counter = Counter()
        self.serial = 0

    # -- state -------------------------------------------------------------------------------------------
    def load(self) -> None:
        cur = self.conn.cursor()
        for (cid,) in cur.execute("SELECT id FROM public.customers"):
            self.customers.add(cid)
        for pid, price in cur.execute("SELECT id, price FROM public.products"):
            self.products[pid] = price
            self.product_pool.add(pid)
        for oid, customer_id, status in cur.execute("SELECT id, customer_id, status FROM public.orders"):
            self._track_order(oid, _Order(customer_id, status, {}))
        for iid, oid, pid, qty, price in cur.execute(
            "SELECT id, order_id, product_id, quantity, unit_price FROM public.order_items"
        ):
            if oid in self.orders:
                self.orders[oid].items[iid] = (pid, qty, price)
        self.serial = self.conn.execute("SELECT coalesce(max(id), 0) FROM public.customers").fetchone()[0]
        self.conn.commit()
        if not self.customers or not self.products:
            raise UsageError(
                "the source database has no customers or products to simulate orders for", "run 'aladia init' first"
            )

    def _track_order(self, oid: int, order: _Order) -> None:
        self.orders[oid] = order
        self.customer_orders[order.customer_id] += 1
        self._restatus(oid, order.status)

    def _restatus(self, oid: int, status: str) -> None:
        self.orders[oid].status = status
        (self.open_orders.add if LIFECYCLE[status] else self.open_orders.discard)(oid)
        (self.pending_orders.add if status == "pending" else self.pending_orders.discard)(oid)

    def _forget_order(self, oid: int) -> None:
        order = self.orders.pop(oid)
        self.customer_orders[order.customer_id] -= 1
        self.open_orders.discard(oid)
        self.pending_orders.discard(oid)

    # -- operations: each runs inside the current transaction and returns its changes --------------------
    def new_order(self, max_items: int = 4) -> list[tuple[str, str]]:
        rng = self.rng
        customer_id = self.customers.choice(rng)
        lines = []
        for _ in range(rng.randint(1, max_items)):
            pid = self.product_pool.choice(rng)
            lines.append((pid, rng.choices((1, 2, 3, 5), weights=(60, 25, 10, 5))[0], self.products[pid]))
        total = sum((q * p for _, q, p in lines), Decimal("0.00"))
        oid = self.conn.execute(
            "INSERT INTO public.orders (customer_id, status, total_amount) VALUES (%s, 'pending', %s) RETURNING id",
            (customer_id, total),
        ).fetchone()[0]
        order = _Order(customer_id, "pending", {})
        for pid, qty, price in lines:
            iid = self.conn.execute(
                "INSERT INTO public.order_items (order_id, product_id, quantity, unit_price) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (oid, pid, qty, price),
            ).fetchone()[0]
            order.items[iid] = (pid, qty, price)
        self._track_order(oid, order)
        return [("orders", "c")] + [("order_items", "c")] * len(lines)

    def new_customer(self) -> list[tuple[str, str]]:
        self.serial += 1
        row = customer_row(self.rng, self.serial, datetime.now(UTC))
        cid = self.conn.execute(
            "INSERT INTO public.customers (name, email, country) VALUES (%s, %s, %s) RETURNING id", row[:3]
        ).fetchone()[0]
        self.customers.add(cid)
        return [("customers", "c")]

    def new_product(self) -> list[tuple[str, str]]:
        name, category, price, *_ = product_row(self.rng, datetime.now(UTC))
        pid = self.conn.execute(
            "INSERT INTO public.products (name, category, price) VALUES (%s, %s, %s) RETURNING id",
            (name, category, price),
        ).fetchone()[0]
        self.products[pid] = price
        self.product_pool.add(pid)
        return [("products", "c")]

    def advance_status(self) -> list[tuple[str, str]]:
        oid = self.open_orders.choice(self.rng)
        if oid is None:
            return self.new_order()
        status = self.orders[oid].status
        options = LIFECYCLE[status]
        weights = [1 if nxt in ("cancelled", "refunded") else 8 for nxt in options]
        nxt = self.rng.choices(options, weights=weights)[0]
        self.conn.execute("UPDATE public.orders SET status = %s WHERE id = %s", (nxt, oid))
        self._restatus(oid, nxt)
        return [("orders", "u")]

    def correct_amount(self) -> list[tuple[str, str]]:
        oid = self.pending_orders.choice(self.rng)
        if oid is None or not self.orders[oid].items:
            return self.advance_status()
        order = self.orders[oid]
        iid = self.rng.choice(list(order.items))
        pid, qty, price = order.items[iid]
        new_qty = max(1, qty + self.rng.choice((-1, 1, 2)))
        self.conn.execute("UPDATE public.order_items SET quantity = %s WHERE id = %s", (new_qty, iid))
        order.items[iid] = (pid, new_qty, price)
        self.conn.execute("UPDATE public.orders SET total_amount = %s WHERE id = %s", (order.total(), oid))
        return [("order_items", "u"), ("orders", "u")]

    def update_customer(self) -> list[tuple[str, str]]:
        cid = self.customers.choice(self.rng)
        if self.rng.random() < 0.5:
            self.conn.execute(
                "UPDATE public.customers SET email = %s WHERE id = %s",
                (f"customer{cid}.{self.rng.randint(1, 10**6)}@example.org", cid),
            )
        else:
            self.conn.execute(
                "UPDATE public.customers SET country = %s WHERE id = %s",
                (self.rng.choice(("DE", "FR", "US", "JP", "BR")), cid),
            )
        return [("customers", "u")]

    def reprice_product(self) -> list[tuple[str, str]]:
        pid = self.product_pool.choice(self.rng)
        price = money(float(self.products[pid]) * self.rng.uniform(0.85, 1.15))
        self.conn.execute("UPDATE public.products SET price = %s WHERE id = %s", (price, pid))
        self.products[pid] = price
        return [("products", "u")]

    def delete_order(self) -> list[tuple[str, str]]:
        oid = self.pending_orders.choice(self.rng)
        if oid is None:
            return self.advance_status()
        order = self.orders[oid]
        self.conn.execute("DELETE FROM public.order_items WHERE order_id = %s", (oid,))
        self.conn.execute("DELETE FROM public.orders WHERE id = %s", (oid,))
        self._forget_order(oid)
        return [("order_items", "d")] * len(order.items) + [("orders", "d")]

    def delete_item(self) -> list[tuple[str, str]]:
        oid = self.pending_orders.choice(self.rng)
        if oid is None or len(self.orders[oid].items) < 2:
            return self.delete_order()
        order = self.orders[oid]
        iid = self.rng.choice(list(order.items))
        self.conn.execute("DELETE FROM public.order_items WHERE id = %s", (iid,))
        del order.items[iid]
        self.conn.execute("UPDATE public.orders SET total_amount = %s WHERE id = %s", (order.total(), oid))
        return [("order_items", "d"), ("orders", "u")]

    def delete_customer(self) -> list[tuple[str, str]]:
        for _ in range(20):
            cid = self.customers.choice(self.rng)
            if cid is not None and self.customer_orders[cid] == 0 and len(self.customers) > 10:
                self.conn.execute("DELETE FROM public.customers WHERE id = %s", (cid,))
                self.customers.discard(cid)
                return [("customers", "d")]
        return self.delete_order()

    def _pick(self, single_change: bool):
        rng = self.rng
        op = rng.choices(OPS, weights=(self.mix.insert, self.mix.update, self.mix.delete))[0]
        if single_change:
            # Near the end of an --events run, only operations that change exactly one row.
            return {"insert": self.new_customer, "update": self.advance_status, "delete": self.advance_status}[op]
        if op == "insert":
            return rng.choices((self.new_order, self.new_customer, self.new_product), weights=(85, 10, 5))[0]
        if op == "update":
            return rng.choices(
                (self.advance_status, self.correct_amount, self.update_customer, self.reprice_product),
                weights=(60, 15, 15, 10),
            )[0]
        return rng.choices((self.delete_order, self.delete_item, self.delete_customer), weights=(50, 35, 15))[0]

    # -- driver ------------------------------------------------------------------------------------------
    def run(
        self,
        rate: float | None = None,
        duration: float | None = None,
        events: int | None = None,
        on_progress: Callable[[SimStats], None] | None = None,
        stop: threading.Event | None = None,
    ) -> SimStats:
        """Run until --duration or --events is reached, or until `stop` is set (Ctrl-C sets it)."""
        check_run(rate, duration, events)
        stop = stop or threading.Event()
        stats = self.stats = SimStats()  # readable by the caller when the run fails part way
        start = time.monotonic()
        last_report = 0.0
        with stop_on_signals(stop):
            while not stop.is_set():
                now = time.monotonic()
                if duration is not None and now - start >= duration:
                    break
                if events is not None and stats.total >= events:
                    break
                single = events is not None and events - stats.total < 6
                try:
                    changes = self._pick(single)()
                    self.conn.commit()
                except BaseException:
                    with contextlib.suppress(Exception):  # a lost connection cannot roll back
                        self.conn.rollback()
                    raise
                stats.changes.update(changes)
                stats.transactions += 1
                if rate is not None:
                    delay = start + stats.total / rate - time.monotonic()
                    if duration is not None:
                        delay = min(delay, start + duration - time.monotonic())
                    if delay > 0:
                        stop.wait(delay)
                if on_progress and time.monotonic() - last_report > 0.1:
                    last_report = time.monotonic()
                    stats.elapsed_s = last_report - start
                    on_progress(stats)
        stats.interrupted = stop.is_set()
        stats.elapsed_s = time.monotonic() - start
        return stats
