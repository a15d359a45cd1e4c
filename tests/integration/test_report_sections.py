"""Every report section over a known warehouse fixture; expected values are computed here in Python from the
fixture rows, not by the report's SQL."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from aladia_etl.analytics import api

NOW = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)
D = Decimal
CLOSED = {"cancelled", "refunded"}

CUSTOMERS = [  # id, name, email, deleted
    (1, "Ada Lovelace", "ada@example.com", False),
    (2, "Alan Turing", "alan@example.com", False),
    (3, "Grace Hopper", "grace@example.com", False),
    (4, "Edsger Dijkstra", "edsger@example.com", False),
    (5, "Gone Customer", "gone@example.com", True),
]
PRODUCTS = [  # id, name, category, price, deleted
    (1, "Lamp", "Home", D("20.00"), False),
    (2, "Camera", "Electronics", D("300.00"), False),
    (3, "Novel", "Books", D("12.50"), False),
    (4, "Kettle", "Home", D("35.00"), False),
    (5, "Old", "Toys", D("9.99"), True),
]


def _orders() -> list[tuple]:
    """id, customer, status, amount, created_at, deleted."""
    rows = []
    base = NOW - timedelta(days=20)
    statuses = ["paid", "shipped", "delivered", "pending", "cancelled", "paid", "refunded", "paid"]
    for i in range(1, 41):  # 40 orders over 20 days
        created = base + timedelta(hours=12 * i)
        rows.append(
            (i, (i % 4) + 1, statuses[i % len(statuses)], D(f"{10 + (i * 7) % 50}.{i % 100:02d}"), created, i == 13)
        )
    for minute in range(90):  # steady activity for the last 90 minutes: 1 order of 25.00 per minute ...
        created = NOW.replace(second=0) - timedelta(minutes=90 - minute) + timedelta(seconds=5)
        rows.append((100 + minute, 1 + minute % 4, "paid", D("25.00"), created, False))
    spike = NOW.replace(second=0) - timedelta(minutes=2) + timedelta(seconds=20)
    for k in range(6):  # ... and a spike: 6 more orders in one minute, one of them huge
        rows.append((200 + k, 2, "paid", D("9000.00") if k == 0 else D("30.00"), spike, False))
    return rows


ORDERS = _orders()


def _items() -> list[tuple]:
    """id, order, product, quantity, unit price, deleted."""
    rows, item_id = [], 1
    for order_id, *_ in ORDERS:
        for j in range(1 + order_id % 3):
            product = PRODUCTS[(order_id + j) % 5]
            rows.append((item_id, order_id, product[0], 1 + (order_id + j) % 4, product[3], item_id % 17 == 0))
            item_id += 1
    return rows


ITEMS = _items()


@pytest.fixture
def fixture_warehouse(scratch_warehouse):
    settings, conn = scratch_warehouse
    ts = NOW - timedelta(seconds=3)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO dim_customer (customer_id, name, email, is_deleted, source_lsn, source_commit_lsn, "
            "source_ts) VALUES (%s, %s, %s, %s, 1, 1, %s)",
            [(*c, ts) for c in CUSTOMERS],
        )
        cur.executemany(
            "INSERT INTO dim_product (product_id, name, category, price, is_deleted, source_lsn, "
            "source_commit_lsn, source_ts) VALUES (%s, %s, %s, %s, %s, 1, 1, %s)",
            [(*p, ts) for p in PRODUCTS],
        )
        cur.executemany(
            "INSERT INTO fact_order (order_id, customer_id, status, total_amount, created_at, "
            "order_date, is_deleted, source_lsn, source_commit_lsn, source_ts) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, 1, 1, %s)",
            [(o, c, s, a, t, t.date(), d, ts) for o, c, s, a, t, d in ORDERS],
        )
        cur.executemany(
            "INSERT INTO fact_order_item (order_item_id, order_id, product_id, quantity, unit_price, "
            "is_deleted, source_lsn, source_commit_lsn, source_ts) VALUES (%s, %s, %s, %s, %s, %s, 1, 1, %s)",
            [(*i, ts) for i in ITEMS],
        )
    return settings, conn


def live_orders():
    return [o for o in ORDERS if not o[5]]


def test_summary(fixture_warehouse):
    _, conn = fixture_warehouse
    orders = live_orders()
    open_orders = [o for o in orders if o[2] not in CLOSED]
    revenue = sum(o[3] for o in open_orders)
    s = api.summary(conn)
    assert s["orders"] == len(orders)
    assert s["revenue"] == revenue
    assert s["average_order_value"] == (revenue / len(open_orders)).quantize(D("0.01"))
    statuses = defaultdict(lambda: [0, D(0)])
    for o in orders:
        statuses[o[2]][0] += 1
        statuses[o[2]][1] += o[3]
    assert {k: (v["orders"], v["amount"]) for k, v in s["by_status"].items()} == {
        k: tuple(v) for k, v in statuses.items()
    }
    cancelled = sum(1 for o in orders if o[2] == "cancelled")
    assert s["cancellation_rate"] == (D(cancelled) / len(orders)).quantize(D("0.0001"))
    assert s["period"]["first_order"] == min(o[4] for o in orders)
    since = (NOW - timedelta(days=5)).date()
    assert api.summary(conn, since)["orders"] == sum(1 for o in orders if o[4].date() >= since)


def test_top_customers(fixture_warehouse):
    _, conn = fixture_warehouse
    per = defaultdict(lambda: {"orders": 0, "revenue": D(0), "open": 0, "last": None})
    for o in live_orders():
        p = per[o[1]]
        p["orders"] += 1
        p["last"] = max(p["last"] or o[4], o[4])
        if o[2] not in CLOSED:
            p["revenue"] += o[3]
            p["open"] += 1
    expected = sorted(per.items(), key=lambda kv: (-kv[1]["revenue"], kv[0]))[:3]
    got = api.top_customers(conn, top=3)
    assert [(c["customer_id"], c["orders"], c["revenue"], c["last_order"]) for c in got] == [
        (cid, p["orders"], p["revenue"], p["last"]) for cid, p in expected
    ]
    names = {c[0]: c[1] for c in CUSTOMERS}
    assert [c["name"] for c in got] == [names[cid] for cid, _ in expected]
    assert got[0]["average_order_value"] == (expected[0][1]["revenue"] / expected[0][1]["open"]).quantize(D("0.01"))


def test_products_and_categories(fixture_warehouse):
    _, conn = fixture_warehouse
    open_ids = {o[0] for o in live_orders() if o[2] not in CLOSED}
    units, revenue = defaultdict(int), defaultdict(D)
    for _, order_id, product_id, qty, price, deleted in ITEMS:
        if not deleted and order_id in open_ids:
            units[product_id] += qty
            revenue[product_id] += qty * price
    result = api.products(conn, top=10)
    assert [(p["product_id"], p["revenue"]) for p in result["by_revenue"]] == sorted(
        revenue.items(), key=lambda kv: (-kv[1], kv[0])
    )
    assert [(p["product_id"], p["units"]) for p in result["by_units"]] == sorted(
        units.items(), key=lambda kv: (-kv[1], kv[0])
    )
    live_products = {p[0]: p[2] for p in PRODUCTS if not p[4]}
    cats = defaultdict(lambda: [0, D(0)])
    for pid in units:
        category = live_products.get(pid, "unknown")
        cats[category][0] += units[pid]
        cats[category][1] += revenue[pid]
    assert {c["category"]: (c["units"], c["revenue"]) for c in result["by_category"]} == {
        k: tuple(v) for k, v in cats.items()
    }
    assert result["by_category"][0]["category"] == max(cats, key=lambda k: cats[k][1])


def test_realtime(fixture_warehouse):
    _, conn = fixture_warehouse
    r = api.realtime(conn, minutes=15, now=NOW, lag=7)
    assert len(r["per_minute"]) == 15
    start = NOW.replace(second=0) + timedelta(minutes=1) - timedelta(minutes=15)
    expected = defaultdict(lambda: [0, D(0)])
    for o in live_orders():
        if o[4] >= start:
            bucket = o[4].replace(second=0, microsecond=0)
            expected[bucket][0] += 1
            expected[bucket][1] += o[3] if o[2] not in CLOSED else 0
    got = {m["minute"]: [m["orders"], m["revenue"]] for m in r["per_minute"] if m["orders"]}
    assert got == {k: v for k, v in expected.items()}
    assert r["freshness"]["newest_source_commit"] == NOW - timedelta(seconds=3)
    assert r["freshness"]["seconds_behind"] == 3.0
    assert r["freshness"]["lag_records"] == 7


def test_anomalies_find_the_injected_spike(fixture_warehouse):
    _, conn = fixture_warehouse
    a = api.anomalies(conn, minutes=60, threshold=3.5, now=NOW)
    spike_minute = NOW.replace(second=0) - timedelta(minutes=2)
    flagged = {(f["metric"], f["minute"]) for f in a["minutes_flagged"]}
    assert flagged == {("revenue", spike_minute), ("orders", spike_minute)}
    assert [o["order_id"] for o in a["orders_flagged"]] == [200]  # the 9,000.00 order


def test_anomalies_report_nothing_on_flat_data(scratch_warehouse):
    _, conn = scratch_warehouse
    ts = NOW - timedelta(seconds=1)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO fact_order (order_id, customer_id, status, total_amount, created_at, order_date, "
            "source_lsn, source_commit_lsn, source_ts) VALUES (%s, 1, 'paid', 25.00, %s, %s, 1, 1, %s)",
            [(m, NOW - timedelta(minutes=m), (NOW - timedelta(minutes=m)).date(), ts) for m in range(1, 60)],
        )
    a = api.anomalies(conn, minutes=60, threshold=3.5, now=NOW)
    assert a["minutes_flagged"] == [] and a["orders_flagged"] == []


def test_insights_are_derived_from_the_numbers(fixture_warehouse):
    _, conn = fixture_warehouse
    report = api.build_report(conn, ("insights",), top=3, minutes=60, now=NOW)
    lines = report["sections"]["insights"]
    orders = live_orders()
    open_revenue = sum(o[3] for o in orders if o[2] not in CLOSED)
    assert lines[0].startswith(f"{len(orders):,} orders") and f"{open_revenue:,.2f}" in lines[0]
    top3 = api.top_customers(conn, top=3)
    share = sum(c["revenue"] for c in top3) / open_revenue
    assert any(f"top 3 customers account for {float(share) * 100:.1f}%" in line for line in lines)
    assert any("anomalous minute" in line for line in lines)
    assert any(line.startswith("Cancellation rate") for line in lines)


def test_report_json_shape_is_stable(fixture_warehouse):
    from aladia_etl.analytics.export import plain

    _, conn = fixture_warehouse
    report = plain(api.build_report(conn, now=NOW))
    json.dumps(report)  # serialisable
    assert set(report) == {"generated_at", "parameters", "sections", "daily"}
    assert list(report["sections"]) == list(api.SECTIONS)
    assert isinstance(report["sections"]["summary"]["revenue"], str)  # money: exact decimal strings
    assert date.fromisoformat(report["daily"][0]["day"]) if report["daily"] else True
