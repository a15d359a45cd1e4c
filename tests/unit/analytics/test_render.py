from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from aladia_etl.analytics.export import plain, tables, to_csv
from aladia_etl.analytics.html import render

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def report():
    minute = NOW.replace(minute=1)
    return {
        "generated_at": NOW,
        "parameters": {},
        "daily": [
            {"day": date(2026, 11, 24), "revenue": Decimal("10.00"), "orders": 1},
            {"day": date(2026, 11, 25), "revenue": Decimal("30.00"), "orders": 2},
        ],
        "sections": {
            "summary": {
                "orders": 3,
                "revenue": Decimal("40.00"),
                "average_order_value": Decimal("13.33"),
                "cancellation_rate": Decimal("0.3333"),
                "by_status": {"paid": {"orders": 3, "amount": Decimal("40.00")}},
                "period": {"first_order": NOW, "last_order": NOW, "since": None},
            },
            "customers": [
                {
                    "customer_id": 1,
                    "name": "<script>alert(1)</script>",
                    "email": "x@example.com",
                    "orders": 3,
                    "revenue": Decimal("40.00"),
                    "average_order_value": Decimal("13.33"),
                    "last_order": NOW,
                }
            ],
            "products": {
                "by_revenue": [],
                "by_units": [],
                "by_category": [{"category": "Home", "products": 1, "units": 2, "revenue": Decimal("4.00")}],
            },
            "anomalies": {
                "method": "m",
                "threshold": 3.5,
                "minutes": 2,
                "orders_flagged": [],
                "minutes_flagged": [
                    {"metric": "revenue", "minute": minute, "value": 9.0, "baseline_median": 1.0, "z": 9.9}
                ],
                "series": [
                    {"minute": NOW, "orders": 1, "revenue": Decimal("1.00")},
                    {"minute": minute, "orders": 5, "revenue": Decimal("9.00")},
                ],
            },
            "insights": ["Revenue grew & fell"],
        },
    }


def test_html_is_self_contained_with_every_chart_and_escaped_text():
    html = render(report())
    for chart in ("daily-revenue", "top-customers", "categories", "revenue-per-minute"):
        assert f'data-chart="{chart}"' in html
    assert html.count('class="anomaly"') == 1
    assert "<script" not in html  # the customer's name is escaped, and the page has no script at all
    assert "&lt;script&gt;" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")  # nothing fetched
    assert "Revenue grew &amp; fell" in html


def test_csv_tables_and_json_plain_values():
    named = tables("summary", report()["sections"]["summary"])
    csv = to_csv(named["summary"])
    assert csv.splitlines()[0] == "metric,value"
    assert "revenue,40.00" in csv
    assert plain({"a": Decimal("1.50"), "b": NOW, "c": [date(2026, 1, 2)]}) == {
        "a": "1.50",
        "b": NOW.isoformat(),
        "c": ["2026-01-02"],
    }
    assert set(tables("products", report()["sections"]["products"])) == {
        "products_by_revenue",
        "products_by_units",
        "categories",
    }
