"""The workload generator's pure logic, without a database: how a run is shared between workers (events, rate,
seeds, the rows each owns), how operations are grouped into transactions, and the SQL a transaction becomes."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

import psycopg
import pytest

from aladia_etl.core.errors import UsageError
from aladia_etl.source import batch as batch_module
from aladia_etl.source.batch import MAX_RETRIES, Batch, IdBlocks, literal, send
from aladia_etl.source.schema import LIFECYCLE
from aladia_etl.source.seed import SeedSpec, generate
from aladia_etl.source.simulator import Mix, Simulator
from aladia_etl.source.workers import SimStats, check_run, owner, split_events, worker_rate, worker_seed

SPEC = SeedSpec(customers=60, products=25, orders=300, rng_seed=7)


def seeded_rows():
    """The seed's rows with the ids the database would give them (1, 2, … per table)."""
    rows = generate(SPEC)
    customers = [(i,) for i in range(1, len(rows["customers"]) + 1)]
    products = [(i, row[2]) for i, row in enumerate(rows["products"], start=1)]
    orders = [(i, row[0], row[1]) for i, row in enumerate(rows["orders"], start=1)]
    items = [(i, row[0], row[1], row[2], row[3]) for i, row in enumerate(rows["order_items"], start=1)]
    return customers, products, orders, items


class Ids:
    """A stand-in for the sequences: every worker takes ids from the same counters, as from nextval."""

    def __init__(self, start: int = 100_000) -> None:
        self.next = dict.fromkeys(IdBlocks.for_txn_size(1).free, start)

    def fill(self, blocks: IdBlocks) -> None:
        for table, wanted in blocks.wanted().items():
            blocks.free[table].extend(range(self.next[table], self.next[table] + wanted))
            self.next[table] += wanted


def workers_on_seed(workers: int, mix: Mix = Mix(), seed: int = 1, txn_size: int = 1) -> list[Simulator]:
    """One Simulator per worker, each with its share of the seed, as `Simulator.load` selects it."""
    customers, products, orders, items = seeded_rows()
    customer_of = {oid: cid for oid, cid, _ in orders}
    sims = []
    for w in range(workers):
        sim = Simulator(None, mix, worker_seed(seed, w, workers), worker=w, workers=workers)
        sim.adopt(
            [c for c in customers if owner(c[0], workers) == w],
            products,
            [o for o in orders if owner(o[1], workers) == w],
            [i for i in items if owner(customer_of[i[1]], workers) == w],
        )
        sim.ids = IdBlocks.for_txn_size(txn_size)
        sims.append(sim)
    return sims


def plan_all(sims: list[Simulator], txns: int, ids: Ids, txn_size: int = 1) -> list[list[Batch]]:
    out = [[] for _ in sims]
    for _ in range(txns):
        for w, sim in enumerate(sims):
            ids.fill(sim.ids)
            out[w].append(sim.plan(txn_size))
    return out


# -- sharing a run ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("events", [1, 3, 4, 5, 999, 1000, 5000, 10**9])
@pytest.mark.parametrize("workers", [1, 2, 3, 4, 7, 64])
def test_events_split_exactly(events, workers):
    shares = split_events(events, workers)
    assert len(shares) == workers and sum(shares) == events
    assert max(shares) - min(shares) <= 1 and shares == sorted(shares, reverse=True)


def test_duration_runs_have_no_event_shares_and_the_rate_is_combined():
    assert split_events(None, 4) == [None] * 4
    assert worker_rate(None, 4) is None
    assert worker_rate(1000, 4) == 250 and worker_rate(1000, 1) == 1000


def test_each_worker_has_its_own_seed_and_one_worker_keeps_the_old_sequence():
    assert [worker_seed(10, w, 4) for w in range(4)] == [10, 11, 12, 13]
    assert [worker_seed(10, 0, 1, attempt) for attempt in range(3)] == [10, 11, 12]  # as before: seed + attempt
    assert len({worker_seed(10, w, 4, a) for w in range(4) for a in range(3)}) == 12
    assert worker_seed(None, 2, 4) is None


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"workers": 0}, "--workers"),
        ({"workers": 65}, "--workers"),
        ({"workers": 2.0}, "--workers"),
        ({"txn_size": 0}, "--txn-size"),
        ({"txn_size": 1001}, "--txn-size"),
    ],
)
def test_run_checks_refuse_bad_workers_and_txn_sizes(kwargs, needle):
    with pytest.raises(UsageError, match=needle):
        check_run(None, None, 10, **kwargs)
    check_run(None, None, 10, workers=64, txn_size=1000)


def test_stats_carry_workers_txn_size_and_retries():
    a, b = SimStats(), SimStats()
    a.changes.update({("orders", "c"): 2, ("orders", "d"): 1})
    b.changes.update({("orders", "c"): 1})
    a.transactions, b.transactions, b.retries = 2, 1, 3
    total = SimStats(workers=4, txn_size=10)
    total.add(a)
    total.add(b)
    assert (total.total, total.transactions, total.retries, total.cdc_records) == (4, 3, 3, 5)
    as_dict = total.as_dict()
    assert (as_dict["workers"], as_dict["txn_size"], as_dict["retries"]) == (4, 10, 3)


# -- ownership ----------------------------------------------------------------------------------------------------
def test_seeded_rows_are_partitioned_without_overlap():
    sims = workers_on_seed(4)
    customers, products, orders, _ = seeded_rows()
    assert sum(len(s.customers) for s in sims) == len(customers)
    assert sum(len(s.orders) for s in sims) == len(orders)
    assert sum(len(s.own_products) for s in sims) == len(products)
    for w, sim in enumerate(sims):
        assert all(owner(o.customer_id, 4) == w for o in sim.orders.values())
        assert len(sim.products) == len(products)  # every worker may put any product in an order
    owned = [set(s.orders) for s in sims]
    assert all(not (owned[i] & owned[j]) for i in range(4) for j in range(i + 1, 4))


def touched(batches: list[Batch]) -> dict[str, set[int]]:
    """The ids each kind of row was updated or deleted by, across these transactions."""
    kinds = {
        "order_status": "orders",
        "order_total": "orders",
        "delete_order": "orders",
        "delete_order_items": "orders",
        "item_quantity": "order_items",
        "delete_item": "order_items",
        "customer_email": "customers",
        "customer_country": "customers",
        "delete_customer": "customers",
        "product_price": "products",
    }
    out: dict[str, set[int]] = {table: set() for table in set(kinds.values())}
    for batch in batches:
        for name, values in batch.statements:
            out[kinds[name]].add(values[-1])
    return out


def test_workers_never_write_the_same_rows():
    ids = Ids()
    sims = workers_on_seed(4, mix=Mix(3, 4, 3), txn_size=5)
    planned = plan_all(sims, 400, ids, txn_size=5)
    writes = [touched(batches) for batches in planned]
    for table in ("orders", "order_items", "customers", "products"):
        for i in range(4):
            for j in range(i + 1, 4):
                assert not (writes[i][table] & writes[j][table]), (table, i, j)
    customers, *_ = seeded_rows()
    for w, batches in enumerate(planned):  # new orders are for the worker's own customers, seeded or created
        own = {cid for (cid,) in customers if owner(cid, 4) == w}
        for batch in batches:
            own.update(cid for cid, *_ in batch.rows["customers"])
            assert {cid for _, cid, *_ in batch.rows["orders"]} <= own


def test_statuses_follow_the_lifecycle_and_deleted_rows_are_never_written_again():
    ids = Ids()
    sims = workers_on_seed(3, mix=Mix(3, 5, 2), txn_size=8)
    _, _, orders, items = seeded_rows()
    for w, batches in enumerate(plan_all(sims, 500, ids, txn_size=8)):
        status = {oid: st for oid, cid, st in orders if owner(cid, 3) == w}
        live_items = {iid for iid, oid, *_ in items if oid in status}
        deleted: set[tuple[str, int]] = set()
        for batch in batches:
            for oid, *_ in batch.rows["orders"]:
                status[oid] = "pending"
            live_items.update(iid for iid, *_ in batch.rows["order_items"])
            for name, values in batch.statements:
                key = values[-1]
                if name == "order_status":
                    assert values[0] in LIFECYCLE[status[key]], (status[key], values[0])
                    status[key] = values[0]
                if name in ("order_status", "order_total", "delete_order"):
                    assert ("orders", key) not in deleted
                if name in ("item_quantity", "delete_item"):
                    assert key in live_items
                if name == "delete_order":
                    assert status[key] == "pending"
                    deleted.add(("orders", key))
                if name == "delete_item":
                    live_items.discard(key)


# -- the mix and transactions ------------------------------------------------------------------------------------
def op_shares(batches_per_worker) -> dict[str, float]:
    ops = Counter(op for batches in batches_per_worker for b in batches for _, op in b.changes)
    total = sum(ops.values())
    return {op: ops[op] / total for op in "cud"}


def test_the_combined_mix_of_several_workers_is_the_mix_of_one():
    one = op_shares(plan_all(workers_on_seed(1, seed=3), 4000, Ids()))
    four = op_shares(plan_all(workers_on_seed(4, seed=3), 1000, Ids()))
    for op in "cud":
        assert abs(one[op] - four[op]) < 0.03, (one, four)
    assert one["c"] > one["u"] > one["d"] > 0.05
    inserts_only = op_shares(plan_all(workers_on_seed(4, Mix(1, 0, 0)), 200, Ids()))
    assert inserts_only == {"c": 1.0, "u": 0.0, "d": 0.0}


@pytest.mark.parametrize("txn_size", [1, 2, 10, 20, 100])
def test_transactions_hold_about_txn_size_changes(txn_size):
    sims = workers_on_seed(2, txn_size=txn_size)
    picks = []
    for sim in sims:
        pick = sim._pick
        sim._pick = lambda single, pick=pick: picks.append(single) or pick(single)
    ops_per_txn = []
    sizes = []
    ids = Ids()
    for _ in range(200):
        for sim in sims:
            ids.fill(sim.ids)
            before = len(picks)
            sizes.append(len(sim.plan(txn_size)))
            ops_per_txn.append(len(picks) - before)
    assert min(sizes) >= txn_size and max(sizes) <= txn_size + 4  # the last operation adds at most 5 changes
    if txn_size == 1:  # one operation per transaction, as before
        assert set(ops_per_txn) == {1}
    else:
        assert sum(ops_per_txn) / len(ops_per_txn) > 1


@pytest.mark.parametrize(("events", "workers", "txn_size"), [(5000, 4, 10), (7, 4, 3), (1, 3, 1), (999, 2, 20)])
def test_events_are_exact_in_total_across_workers(events, workers, txn_size):
    ids = Ids()
    sims = workers_on_seed(workers, txn_size=txn_size)
    done = 0
    for sim, share in zip(sims, split_events(events, workers), strict=True):
        made = 0
        while made < share:
            ids.fill(sim.ids)
            batch = sim.plan(txn_size, share - made)
            assert 0 < len(batch) <= share - made
            made += len(batch)
        done += made
    assert done == events


def test_a_worker_without_customers_creates_one_first():
    sim = Simulator(None, Mix(1, 0, 0), 5, worker=3, workers=4)
    sim.adopt([], [(1, Decimal("9.99"))], [], [])
    Ids().fill(sim.ids)
    batch = sim.plan()
    assert batch.changes == [("customers", "c")] and len(sim.customers) == 1


# -- the SQL of a transaction -------------------------------------------------------------------------------------
def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def test_a_transaction_inserts_parents_first_in_one_statement_per_table_then_updates_in_order():
    batch = Batch()
    batch.add("order_status", "paid", 7)
    batch.insert("order_items", (11, 10, 3, 2, Decimal("4.50")))
    batch.insert("orders", (10, 5, "pending", Decimal("9.00")))
    batch.insert("order_items", (12, 10, 4, 1, Decimal("0.99")))
    batch.insert("customers", (5, "Ada O'Hara", "ada@example.com", "DE"))
    batch.add("delete_order", 3)
    statements = batch.sql(quote).split(";\n")
    assert [s.split("(")[0] for s in statements] == [
        "EXECUTE aladia_sim_insert_customers",
        "EXECUTE aladia_sim_insert_orders",
        "EXECUTE aladia_sim_insert_order_items",
        "EXECUTE aladia_sim_order_status",
        "EXECUTE aladia_sim_delete_order",
    ]
    assert "ARRAY['Ada O''Hara']" in statements[0]
    assert statements[2] == (
        "EXECUTE aladia_sim_insert_order_items(ARRAY[11, 12], ARRAY[10, 10], ARRAY[3, 4], ARRAY[2, 1], "
        "ARRAY[4.50, 0.99])"
    )
    assert statements[3:] == ["EXECUTE aladia_sim_order_status('paid', 7)", "EXECUTE aladia_sim_delete_order(3)"]


def test_every_statement_a_transaction_uses_is_prepared_with_matching_parameters():
    for name, (types, text) in batch_module.STATEMENTS.items():
        count = len(types.split(","))
        assert set(re.findall(r"\$(\d+)", text)) == {str(n) for n in range(1, count + 1)}, name


def test_literals_only_for_the_types_the_simulator_writes():
    assert literal(12, quote) == "12" and literal(Decimal("0.50"), quote) == "0.50"
    assert literal(Decimal("1E+3"), quote) == "1000" and literal(None, quote) == "NULL"
    assert literal("it's", quote) == "'it''s'"
    for bad in (1.5, True, Decimal("NaN"), Decimal("Infinity"), b"x"):
        with pytest.raises((TypeError, ValueError)):
            literal(bad, quote)


def test_id_blocks_refill_below_what_one_transaction_can_use():
    blocks = IdBlocks.for_txn_size(20)
    assert blocks.low == 25 and all(n == blocks.low + blocks.block for n in blocks.wanted().values())
    Ids().fill(blocks)
    assert not any(blocks.wanted().values())
    for _ in range(blocks.block + 1):
        blocks.take("orders")
    assert blocks.wanted()["orders"] > 0 and blocks.wanted()["customers"] == 0


# -- retries --------------------------------------------------------------------------------------------------------
def test_serialization_failures_and_deadlocks_are_sent_again_and_counted(monkeypatch):
    failures = [psycopg.errors.SerializationFailure(), psycopg.errors.DeadlockDetected()]
    sent = []

    def run_query(conn, text):
        sent.append(text)
        if failures:
            raise failures.pop(0)

    monkeypatch.setattr(batch_module, "run_query", run_query)
    pauses = []
    assert send(None, "EXECUTE x(1)", pause=pauses.append) == 2
    assert sent == ["EXECUTE x(1)"] * 3 and len(pauses) == 2


def test_other_errors_and_too_many_retries_are_raised(monkeypatch):
    def unique_violation(conn, text):
        raise psycopg.errors.UniqueViolation()

    monkeypatch.setattr(batch_module, "run_query", unique_violation)
    with pytest.raises(psycopg.errors.UniqueViolation):
        send(None, "x", pause=lambda s: None)
    calls = []

    def always_deadlock(conn, text):
        calls.append(text)
        raise psycopg.errors.DeadlockDetected()

    monkeypatch.setattr(batch_module, "run_query", always_deadlock)
    with pytest.raises(psycopg.errors.DeadlockDetected):
        send(None, "x", pause=lambda s: None)
    assert len(calls) == MAX_RETRIES + 1


def test_the_same_seed_plans_the_same_transactions():
    first = plan_all(workers_on_seed(2, seed=9, txn_size=5), 50, Ids(), txn_size=5)
    second = plan_all(workers_on_seed(2, seed=9, txn_size=5), 50, Ids(), txn_size=5)
    assert [[b.sql(quote) for b in w] for w in first] == [[b.sql(quote) for b in w] for w in second]
    other = plan_all(workers_on_seed(2, seed=10, txn_size=5), 50, Ids(), txn_size=5)
    assert [b.sql(quote) for b in other[0]] != [b.sql(quote) for b in first[0]]
