from __future__ import annotations

from datetime import date
from decimal import Decimal

from aladia_etl.analytics.export import plain, tables, to_csv
from aladia_etl.analytics.html import render
from tests.unit.analytics.sample import NOW, report


def test_html_is_self_contained_with_every_chart_and_escaped_text():
    html = render(report())
    for chart in ("daily-revenue", "top-customers", "categories", "revenue-per-minute"):
        assert html.count(f'data-chart="{chart}"') == 1
    assert html.count('class="anomaly"') == 1
    assert "<script" not in html  # the customer's name is escaped, and the page has no script at all
    assert "&lt;script&gt;" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")  # nothing fetched
    assert "<li>Revenue grew &amp; fell</li>" in html


def test_html_without_anomalies_draws_the_realtime_minutes():
    data = report()
    del data["sections"]["anomalies"]
    html = render(data)
    assert html.count('data-chart="revenue-per-minute"') == 1
    assert 'class="anomaly"' not in html


def test_csv_tables_and_json_plain_values():
    named = tables("summary", report()["sections"]["summary"])
    csv = to_csv(named["summary"])
    assert csv.splitlines()[0] == "metric,value"
    assert "revenue,40.00" in csv
    assert "cancellation_rate,0.3333" in csv
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


def test_csv_directory_has_one_file_per_model_table(tmp_path):
    from aladia_etl.analytics.service import write_csv

    written = write_csv(report(), tmp_path / "csv")
    assert sorted(p.name for p in written) == sorted(
        f"{name}.csv"
        for name in (
            "summary",
            "customers",
            "products_by_revenue",
            "products_by_units",
            "categories",
            "realtime_per_minute",
            "realtime_freshness",
            "anomalous_minutes",
            "anomalous_orders",
            "insights",
        )
    )
    header = (tmp_path / "csv" / "customers.csv").read_text().splitlines()[0]
    assert header == "customer_id,name,email,orders,revenue,average_order_value,last_order"
    assert (tmp_path / "csv" / "realtime_per_minute.csv").read_text().count("\n") == 3  # every minute
