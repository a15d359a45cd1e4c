"""The idempotent, LSN-guarded loader on the real warehouse PostgreSQL (records built by hand, no Kafka)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from aladia_etl.processing.bundle import stage
from aladia_etl.warehouse import loader

ORDERS = "orders_db.public.orders"
ITEMS = "orders_db.public.order_items"
DAY1 = "2026-11-20T10:00:00Z"
DAY2 = "2026-11-21T10:00:00Z"


@pytest.fixture
def wh(scratch_warehouse):
    return scratch_warehouse


def order(id_, lsn, status="paid", total="10.00", op="c", created=DAY1):
    row = {
        "id": id_,
        "customer_id": 1,
        "status": status,
        "total_amount": total,
        "created_at": created,
        "updated_at": created,
    }
    return ORDERS, {
        "before": row if op == "d" else None,
        "after": None if op == "d" else row,
        "source": {"lsn": lsn, "ts_ms": lsn * 1000, "table": "orders"},
        "op": op,
    }


def item(id_, order_id, lsn, qty=1, op="c"):
    row = {
        "id": id_,
        "order_id": order_id,
        "product_id": 1,
        "quantity": qty,
        "unit_price": "5.00",
        "created_at": DAY1,
        "updated_at": DAY1,
    }
    return ITEMS, {
        "before": row if op == "d" else None,
        "after": None if op == "d" else row,
        "source": {"lsn": lsn, "ts_ms": lsn * 1000, "table": "order_items"},
        "op": op,
    }


class Batches:
    def __init__(self, settings, conn):
        self.settings, self.conn, self.next_id, self.offset = settings, conn, 0, 0

    def apply(self, *events, batch_id=None, raw=()):
        batch_id = self.next_id if batch_id is None else batch_id
        self.next_id = max(self.next_id, batch_id + 1)
        records = []
        for topic, payload in events:
            records.append((topic, 0, self.offset, b"k", json.dumps(payload).encode()))
            self.offset += 1
        for topic, value in raw:
            records.append((topic, 0, self.offset, b"k", value))
            self.offset += 1
        token = loader.batch_token("test", "s1", batch_id)
        conninfo = self.settings.postgres.conninfo(self.settings.postgres.warehouse_db)
        stage(conninfo, token, records)
        return loader.apply_batch(self.conn, "test", "s1", batch_id)


def fact(conn, order_id):
    return conn.execute(
        "SELECT status, total_amount, is_deleted, source_lsn, loaded_at FROM fact_order WHERE order_id = %s",
        (order_id,),
    ).fetchone()


def summary(conn, day):
    return conn.execute(
        "SELECT orders, revenue, avg_order_value, items_sold, paid, cancelled FROM daily_sales_summary WHERE day = %s",
        (day,),
    ).fetchone()


def test_newer_wins_older_never_overwrites(wh):
    settings, conn = wh
    b = Batches(settings, conn)
    assert b.apply(order(1, 10, "pending"), order(1, 20, "paid", "12.00")).applied
    assert fact(conn, 1)[:4] == ("paid", Decimal("12.00"), False, 20)
    loaded = fact(conn, 1)[4]
    assert b.apply(order(1, 15, "cancelled")).applied  # older event, later batch
    assert fact(conn, 1)[:4] == ("paid", Decimal("12.00"), False, 20)
    assert fact(conn, 1)[4] == loaded  # not even touched


def test_soft_delete_cannot_be_resurrected_by_a_replay(wh):
    settings, conn = wh
    b = Batches(settings, conn)
    b.apply(order(2, 10))
    b.apply(order(2, 30, op="d"))
    assert fact(conn, 2)[2:4] == (True, 30)
    b.apply(order(2, 10), order(2, 20, "shipped"))  # the whole history replayed
    assert fact(conn, 2)[2:4] == (True, 30)
    assert conn.execute("SELECT count(*) FROM v_order WHERE order_id = 2").fetchone()[0] == 0


def test_replayed_batch_id_changes_nothing(wh):
    settings, conn = wh
    b = Batches(settings, conn)
    assert b.apply(order(3, 10, "paid"), batch_id=7).applied
    again = b.apply(order(3, 40, "cancelled"), batch_id=7)
    assert not again.applied
    assert fact(conn, 3)[0] == "paid"
    assert conn.execute("SELECT count(*) FROM stg_orders").fetchone()[0] == 0  # staging cleared either way


def test_summary_follows_updates_deletes_and_late_items(wh):
    settings, conn = wh
    b = Batches(settings, conn)
    b.apply(item(10, 5, 11, qty=3), item(11, 6, 12, qty=2))  # items before their orders
    assert summary(conn, "2026-11-20") is None
    b.apply(order(5, 10, "paid", "15.00"), order(6, 13, "paid", "10.00"), order(7, 14, "cancelled", "99.00"))
    assert summary(conn, "2026-11-20") == (3, Decimal("25.00"), Decimal("12.50"), 5, 2, 1)
    b.apply(order(6, 20, "cancelled", "10.00"))
    assert summary(conn, "2026-11-20") == (3, Decimal("15.00"), Decimal("15.00"), 3, 1, 2)
    b.apply(item(10, 5, 25, op="d"))
    assert summary(conn, "2026-11-20")[3] == 0
    b.apply(order(5, 30, op="d"), order(7, 31, op="d"), order(6, 32, op="d"))
    assert summary(conn, "2026-11-20") is None  # no orders left that day
    b.apply(order(8, 40, "paid", "1.00", created=DAY2))
    assert summary(conn, "2026-11-21") == (1, Decimal("1.00"), Decimal("1.00"), 0, 1, 0)


def test_dead_letters_and_offsets(wh):
    settings, conn = wh
    b = Batches(settings, conn)
    result = b.apply(order(9, 10), raw=[(ORDERS, b"garbage")])
    assert result.applied
    reasons = conn.execute("SELECT reason, raw_value FROM dead_letters").fetchall()
    assert len(reasons) == 1 and "malformed JSON" in reasons[0][0] and bytes(reasons[0][1]) == b"garbage"
    assert loader.applied_offsets(conn, "test") == {(ORDERS, 0): 2}
    b.apply(order(9, 11))
    assert loader.applied_offsets(conn, "test") == {(ORDERS, 0): 3}
