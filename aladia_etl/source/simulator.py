"""`aladia simulate`: a realistic order workload on the source database, committed in transactions and paced.

Operations are planned against the simulator's view of the data and grouped into transactions of about --txn-size
changes (one operation each by default); each transaction is sent in one round trip (`source.batch`). Every change
(a row inserted, updated or deleted) is counted per table and operation, so that the number of change events
Debezium emits can be checked against it. Several workers share a run (`source.workload`, `source.workers`).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from aladia_etl.core.errors import UsageError
from aladia_etl.core.signals import stop_on_signals
from aladia_etl.core.sql import scalar
from aladia_etl.source.batch import Batch, IdBlocks, libpq_quote, prepare, send
from aladia_etl.source.schema import LIFECYCLE
from aladia_etl.source.seed import customer_row, money, product_row
from aladia_etl.source.workers import SimStats, check_run, owner

if TYPE_CHECKING:
    from psycopg import Connection

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
    """One worker of the workload, on its own autocommit connection.

    With several workers, each owns a disjoint share of the data and is the only one to write it, so workers never
    wait on each other's row locks: the customers whose id modulo `workers` is its index (and the customers it
    creates), every order of those customers (so every order it creates) with its items, and the products whose
    id modulo `workers` is its index (and those it creates) for repricing. Every worker may put any product it knows
    in a new order (products are never deleted, and referencing one does not conflict with its repricing).
    """

    def __init__(
        self, conn: Connection, mix: Mix = Mix(), rng_seed: int | None = None, *, worker: int = 0, workers: int = 1
    ) -> None:
        if not 0 <= worker < workers:
            raise ValueError(f"worker {worker} of {workers}")
        self.conn = conn
        self.mix = mix
        self.rng = random.Random(rng_seed)
        self.worker, self.workers = worker, workers
        self.customers = _Pool()  # this worker's
        self.products: dict[int, Decimal] = {}  # every product: id -> price
        self.product_pool = _Pool()
        self.own_products = _Pool()  # the ones this worker reprices
        self.orders: dict[int, _Order] = {}  # this worker's
        self.open_orders = _Pool()  # status with a next step in the lifecycle
        self.pending_orders = _Pool()
        self.customer_orders: Counter = Counter()
        self.min_customers = math.ceil(10 / workers)  # the workload keeps more than 10 customers in all
        self.ids = IdBlocks.for_txn_size(1)
        self.batch = Batch()
        self.lock = threading.Lock()  # guards `stats` for a reader in another thread
        self._single = False
        weights = (mix.insert, mix.update, mix.delete)
        self._op_weights = list(itertools.accumulate(weights))

    # -- state -------------------------------------------------------------------------------------------
    def load(self) -> None:
        """This worker's share of the source, read in one transaction."""
        n, w = self.workers, self.worker
        with self.conn.transaction():
            cur = self.conn.cursor()
            customers = cur.execute("SELECT id FROM public.customers WHERE mod(id, %s) = %s", (n, w)).fetchall()
            products = cur.execute("SELECT id, price FROM public.products").fetchall()
            orders = cur.execute(
                "SELECT id, customer_id, status FROM public.orders WHERE mod(customer_id, %s) = %s", (n, w)
            ).fetchall()
            items = cur.execute(
                "SELECT i.id, i.order_id, i.product_id, i.quantity, i.unit_price FROM public.order_items i "
                "JOIN public.orders o ON o.id = i.order_id WHERE mod(o.customer_id, %s) = %s",
                (n, w),
            ).fetchall()
            any_customer = customers or scalar(cur, "SELECT EXISTS (SELECT 1 FROM public.customers)")
        if not any_customer or not products:
            raise UsageError(
                "the source database has no customers or products to simulate orders for", "run 'aladia init' first"
            )
        self.adopt(customers, products, orders, items)

    def adopt(self, customers, products, orders, items) -> None:
        """Take rows as this worker's state: its customers (id,), every product (id, price), its orders
        (id, customer id, status) and their items (id, order id, product id, quantity, unit price)."""
        for (cid,) in customers:
            self.customers.add(cid)
        for pid, price in products:
            self.products[pid] = price
            self.product_pool.add(pid)
            if owner(pid, self.workers) == self.worker:
                self.own_products.add(pid)
        for oid, customer_id, status in orders:
            self._track_order(oid, _Order(customer_id, status, {}))
        for iid, oid, pid, qty, price in items:
            if oid in self.orders:
                self.orders[oid].items[iid] = (pid, qty, price)

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

    # -- operations: each adds its statements to the transaction being planned and returns its changes ---
    def new_order(self, max_items: int = 4) -> list[tuple[str, str]]:
        rng = self.rng
        customer_id = self.customers.choice(rng)
        if customer_id is None:  # a worker whose share has no customers yet
            return self.new_customer()
        lines = []
        for _ in range(rng.randint(1, max_items)):
            pid = self.product_pool.choice(rng)
            if pid is None:  # no product yet (load() refuses such a database; adopt() may be given one)
                return self.new_product()
            lines.append((pid, _weighted(rng, _QUANTITIES, _QUANTITY_WEIGHTS), self.products[pid]))
        total = sum((q * p for _, q, p in lines), Decimal("0.00"))
        oid = self.ids.take("orders")
        self.batch.insert("orders", (oid, customer_id, "pending", total))
        order = _Order(customer_id, "pending", {})
        for pid, qty, price in lines:
            iid = self.ids.take("order_items")
            self.batch.insert("order_items", (iid, oid, pid, qty, price))
            order.items[iid] = (pid, qty, price)
        self._track_order(oid, order)
        return [("orders", "c")] + [("order_items", "c")] * len(lines)

    def new_customer(self) -> list[tuple[str, str]]:
        cid = self.ids.take("customers")
        name, email, country, *_ = customer_row(self.rng, cid, datetime.now(UTC))
        self.batch.insert("customers", (cid, name, email, country))
        self.customers.add(cid)
        return [("customers", "c")]

    def new_product(self) -> list[tuple[str, str]]:
        name, category, price, *_ = product_row(self.rng, datetime.now(UTC))
        pid = self.ids.take("products")
        self.batch.insert("products", (pid, name, category, price))
        self.products[pid] = price
        self.product_pool.add(pid)
        self.own_products.add(pid)
        return [("products", "c")]

    def advance_status(self) -> list[tuple[str, str]]:
        oid = self.open_orders.choice(self.rng)
        if oid is None:
            return self.new_customer() if self._single else self.new_order()
        nxt = _weighted(self.rng, *_NEXT_STATUS[self.orders[oid].status])
        self.batch.add("order_status", nxt, oid)
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
        self.batch.add("item_quantity", new_qty, iid)
        order.items[iid] = (pid, new_qty, price)
        self.batch.add("order_total", order.total(), oid)
        return [("order_items", "u"), ("orders", "u")]

    def update_customer(self) -> list[tuple[str, str]]:
        cid = self.customers.choice(self.rng)
        if cid is None:
            return self.new_customer()
        if self.rng.random() < 0.5:
            email = f"customer{cid}.{self.rng.randint(1, 10**6)}@example.org"
            self.batch.add("customer_email", email, cid)
        else:
            country = self.rng.choice(("DE", "FR", "US", "JP", "BR"))
            self.batch.add("customer_country", country, cid)
        return [("customers", "u")]

    def reprice_product(self) -> list[tuple[str, str]]:
        pid = self.own_products.choice(self.rng)
        if pid is None:
            return self.update_customer()
        price = money(float(self.products[pid]) * self.rng.uniform(0.85, 1.15))
        self.batch.add("product_price", price, pid)
        self.products[pid] = price
        return [("products", "u")]

    def delete_order(self) -> list[tuple[str, str]]:
        oid = self.pending_orders.choice(self.rng)
        if oid is None:
            return self.advance_status()
        order = self.orders[oid]
        self.batch.add("delete_order_items", oid)
        self.batch.add("delete_order", oid)
        self._forget_order(oid)
        return [("order_items", "d")] * len(order.items) + [("orders", "d")]

    def delete_item(self) -> list[tuple[str, str]]:
        oid = self.pending_orders.choice(self.rng)
        if oid is None or len(self.orders[oid].items) < 2:
            return self.delete_order()
        order = self.orders[oid]
        iid = self.rng.choice(list(order.items))
        self.batch.add("delete_item", iid)
        del order.items[iid]
        self.batch.add("order_total", order.total(), oid)
        return [("order_items", "d"), ("orders", "u")]

    def delete_customer(self) -> list[tuple[str, str]]:
        """Only a customer without orders; no other worker places orders for this worker's customers."""
        for _ in range(20):
            cid = self.customers.choice(self.rng)
            if cid is not None and self.customer_orders[cid] == 0 and len(self.customers) > self.min_customers:
                self.batch.add("delete_customer", cid)
                self.customers.discard(cid)
                return [("customers", "d")]
        return self.delete_order()

    def _pick(self, single_change: bool):
        rng = self.rng
        op = _weighted(rng, OPS, self._op_weights)
        if single_change:
            # Near the end of an --events run, only operations that change exactly one row.
            return {"insert": self.new_customer, "update": self.advance_status, "delete": self.advance_status}[op]
        if op == "insert":
            return _weighted(rng, (self.new_order, self.new_customer, self.new_product), (85, 95, 100))
        if op == "update":
            return _weighted(
                rng,
                (self.advance_status, self.correct_amount, self.update_customer, self.reprice_product),
                (60, 75, 90, 100),
            )
        return _weighted(rng, (self.delete_order, self.delete_item, self.delete_customer), (50, 85, 100))

    def plan(self, txn_size: int = 1, left: int | None = None) -> Batch:
        """The next transaction: operations until it has `txn_size` changes (its last operation may add a few
        more), never more than `left` changes; the state already reflects it."""
        batch = self.batch = Batch()
        while True:
            room = None if left is None else left - len(batch)
            if room is not None and room <= 0:
                break
            self._single = room is not None and room < 6
            batch.changes.extend(self._pick(self._single)())
            if len(batch) >= txn_size:
                break
        return batch

    # -- driver ------------------------------------------------------------------------------------------
    def run(
        self,
        rate: float | None = None,
        duration: float | None = None,
        events: int | None = None,
        on_progress: Callable[[SimStats], None] | None = None,
        stop: threading.Event | None = None,
        txn_size: int = 1,
    ) -> SimStats:
        """Run until --duration or --events is reached, or until `stop` is set (Ctrl-C sets it). A failure leaves
        the state ahead of the database (the transaction in flight was rolled back, or may have committed): load
        it again on a new Simulator."""
        check_run(rate, duration, events, txn_size=txn_size)
        if not self.conn.autocommit:
            raise ValueError("the simulator needs an autocommit connection: a transaction is one multi-statement query")
        stop = stop or threading.Event()
        stats = self.stats = SimStats(txn_size=txn_size)  # readable by the caller when the run fails part way
        self.ids = IdBlocks.for_txn_size(txn_size)
        quote = libpq_quote(self.conn)
        prepare(self.conn)
        start = time.monotonic()
        last_report = 0.0
        with stop_on_signals(stop):
            while not stop.is_set():
                now = time.monotonic()
                if duration is not None and now - start >= duration:
                    break
                if events is not None and stats.total >= events:
                    break
                self.ids.refill(self.conn)
                batch = self.plan(txn_size, None if events is None else events - stats.total)
                retries = send(self.conn, batch.sql(quote))
                with self.lock:
                    stats.changes.update(batch.changes)
                    stats.transactions += 1
                    stats.retries += retries
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


def _weighted(rng: random.Random, population: Sequence, cum_weights: Sequence[float]):
    """`rng.choices(population, cum_weights=cum_weights)[0]` (the same draw, the same result) without its
    per-call overhead, which was a sizeable part of the planning time."""
    return population[bisect.bisect(cum_weights, rng.random() * (cum_weights[-1] + 0.0), 0, len(population) - 1)]


_QUANTITIES = (1, 2, 3, 5)
_QUANTITY_WEIGHTS = (60, 85, 95, 100)  # cumulative: 60, 25, 10, 5
# Next statuses and their cumulative weights: a cancellation or a refund is 1 in 8 of a step forward.
_NEXT_STATUS = {
    status: (options, list(itertools.accumulate(1 if nxt in ("cancelled", "refunded") else 8 for nxt in options)))
    for status, options in LIFECYCLE.items()
    if options
}
