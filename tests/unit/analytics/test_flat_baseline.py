"""Minutes against a baseline with no spread: no infinite z, flagged as "no baseline", never "the
strongest" anomaly; and empty tables say so."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aladia_etl.analytics import api
from aladia_etl.analytics.export import plain, tables, to_csv
from aladia_etl.analytics.html import render, table_html
from aladia_etl.analytics.insights import insights
from aladia_etl.analytics.queries import ORDER_AMOUNTS, PER_MINUTE
from aladia_etl.cli.render import out
from aladia_etl.cli.views.report import print_table
from tests.unit.analytics.sample import report

NOW = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)


class FakeCursor:
    """Answers the two anomaly queries from canned rows."""

    def __init__(self, answers):
        self.answers = answers

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params):
        names, self.rows = self.answers[sql]
        self.description = [type("D", (), {"name": n}) for n in names]

    def fetchall(self):
        return self.rows


class FakeConn:
    def __init__(self, answers):
        self.answers = answers

    def cursor(self):
        return FakeCursor(self.answers)


def sparse_conn(orders_at: dict[int, int], amounts: list[str]):
    """`orders_at`: minutes ago → orders (25.00 each); every other minute has none."""
    minute = NOW.replace(second=0)
    per_minute = [(minute - timedelta(minutes=m), n, Decimal(25 * n)) for m, n in orders_at.items()]
    orders = [(i, 1, Decimal(a), NOW) for i, a in enumerate(amounts)]
    return FakeConn(
        {
            PER_MINUTE: (["minute", "orders", "revenue"], sorted(per_minute)),
            ORDER_AMOUNTS: (["order_id", "customer_id", "total_amount", "created_at"], orders),
        }
    )


def test_sparse_minutes_have_no_baseline_and_no_infinite_z():
    a = api.anomalies(sparse_conn({5: 1}, ["25.00"] * 20 + ["90.00"]), minutes=60, threshold=3.5, now=NOW)
    (row,) = a["minutes_flagged"][:1]
    assert row["no_baseline"] is True and row["z"] is None
    assert all(f["no_baseline"] and f["z"] is None for f in a["minutes_flagged"])
    assert [(o["order_id"], o["z"]) for o in a["orders_flagged"]] == [(20, 16.76)]  # all amounts: always a spread
    text = json.dumps(plain(a), allow_nan=False)  # no Infinity anywhere
    assert '"no_baseline": true' in text
    assert to_csv(tables("anomalies", a)["anomalous_minutes"]).splitlines()[0].endswith(",z,no_baseline")


def test_insights_pick_the_strongest_by_finite_z_only():
    minute = NOW.replace(second=0)
    a = {
        "minutes": 60,
        "threshold": 3.5,
        "minutes_flagged": [
            {"metric": "revenue", "minute": minute, "value": 900.0, "baseline_median": 0.0, "z": None},
            {"metric": "orders", "minute": minute, "value": 9.0, "baseline_median": 1.0, "z": 4.5},
            {"metric": "revenue", "minute": minute, "value": 5.0, "baseline_median": 50.0, "z": -6.1},
        ],
        "orders_flagged": [],
    }
    lines = insights({"anomalies": a}, [], Decimal(0))
    assert lines[0].startswith("2 anomalous minute(s)") and "revenue 5.00" in lines[0] and "z -6.10" in lines[0]
    assert lines[1].startswith("1 minute value(s) differ from a baseline with no spread")


def test_insights_with_only_flat_baseline_minutes_report_no_anomaly():
    a = api.anomalies(sparse_conn({5: 1}, []), minutes=60, threshold=3.5, now=NOW)
    lines = insights({"anomalies": a}, [], Decimal(0))
    assert lines[0] == "No anomalous minutes in the last 60 minutes (threshold 3.5)."
    assert "no z-score" in lines[1] and "strongest" not in " ".join(lines)


def test_normal_baseline_scores_minutes():
    busy = {m: 1 + m % 3 for m in range(1, 60)}
    busy[3] = 40
    a = api.anomalies(sparse_conn(busy, []), minutes=60, threshold=3.5, now=NOW)
    assert [(f["metric"], f["no_baseline"]) for f in a["minutes_flagged"]] == [("revenue", False), ("orders", False)]
    assert all(f["z"] > 3.5 for f in a["minutes_flagged"])


def test_empty_tables_say_none_in_the_terminal_and_no_rows_in_html():
    data = report()
    data["sections"]["anomalies"]["orders_flagged"] = []
    data["sections"]["customers"] = []
    empty = tables("anomalies", data["sections"]["anomalies"])["anomalous_orders"]
    with out.capture() as captured:
        print_table(empty)
    assert captured.get().strip() == "Unusually large orders: none"
    assert table_html(empty) == '<h3>Unusually large orders</h3><p class="meta">No rows.</p>'
    html = render(data)
    assert 'data-table="anomalous_orders"' not in html and 'data-table="customers"' not in html
    assert 'data-chart="top-customers"' not in html


def test_html_rings_minutes_with_no_baseline():
    data = report()
    flagged = data["sections"]["anomalies"]["minutes_flagged"]
    flagged[0] = {**flagged[0], "z": None, "no_baseline": True}
    html = render(data)
    assert 'class="anomaly"' not in html and html.count('class="no-baseline"') == 1
