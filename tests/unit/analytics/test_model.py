"""The report model lists every table once, and every renderer shows a table with the model's columns."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from aladia_etl.analytics import api, model
from aladia_etl.analytics.export import to_csv
from aladia_etl.analytics.html import table_html
from aladia_etl.analytics.model import Column, Table, display
from aladia_etl.cli.views.report import rich_table
from tests.unit.analytics.sample import report

TABLES = {
    "summary": ["summary"],
    "customers": ["customers"],
    "products": ["products_by_revenue", "products_by_units", "categories"],
    "realtime": ["realtime_per_minute", "realtime_freshness"],
    "anomalies": ["anomalous_minutes", "anomalous_orders"],
    "insights": ["insights"],
}


def all_tables() -> list[Table]:
    return [t for s in model.sections(report()) for t in s.tables]


def test_every_section_lists_its_tables_once():
    assert set(model.BUILDERS) == set(api.SECTIONS)
    sections = model.sections(report())
    assert [s.name for s in sections] == list(api.SECTIONS)
    assert {s.name: [t.name for t in s.tables] for s in sections} == TABLES
    names = Counter(t.name for t in all_tables())
    assert all(n == 1 for n in names.values())
    for table in all_tables():
        assert len(set(table.keys)) == len(table.keys), table.name


def test_section_data_is_the_json_data():
    data = report()
    for section in model.sections(data):
        assert section.data is data["sections"][section.name]


@pytest.mark.parametrize("name", [n for names in TABLES.values() for n in names])
def test_model_columns_are_the_columns_of_the_rows(name):
    """The model's columns are the keys of the section's rows, in their order (the CSV header of before)."""
    table = next(t for t in all_tables() if t.name == name)
    assert table.rows, "the sample report has rows in every table"
    assert list(table.rows[0]) == table.keys


@pytest.mark.parametrize("table", all_tables(), ids=lambda t: t.name)
def test_every_renderer_shows_the_models_columns(table):
    assert to_csv(table).splitlines()[0] == ",".join(table.keys)
    if table.as_list:
        return
    assert [str(c.header) for c in rich_table(table).columns] == table.labels
    html = table_html(table)
    if table.shown():
        assert re.findall(r"<th[^>]*>([^<]*)</th>", html) == table.labels
        numeric = [c.label for c in table.columns if c.numeric]
        assert re.findall(r'<th class="n">([^<]*)</th>', html) == numeric


def test_csv_of_a_table_is_its_columns_then_every_row():
    table = Table("t", "T", (Column("b", "B"), Column("a", "A", True)), [{"a": 1, "b": "x"}, {"b": "y"}], limit=1)
    assert to_csv(table) == "b,a\nx,1\ny,\n"  # model order, every row (the limit is for people only)
    assert to_csv(Table("t", "T", table.columns, [])) == "b,a\n"


def test_people_see_kept_and_limited_rows():
    per_minute = next(t for t in all_tables() if t.name == "realtime_per_minute")
    assert [r["orders"] for r in per_minute.shown()] == [5]
    assert len(per_minute.rows) == 2
    table = Table("t", "T", (Column("a", "A"),), [{"a": i} for i in range(30)], limit=20)
    assert len(table.shown()) == 20


def test_display_keeps_decimals_and_formats_times():
    from datetime import UTC, datetime
    from decimal import Decimal

    assert display(Decimal("1234.5")) == "1,234.50"
    assert display(Decimal("0.3333")) == "0.3333"
    assert display(12345) == "12,345"
    assert display(None) == ""
    assert display(True) == "yes"
    assert display(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == "2026-01-02 03:04 UTC"


def test_unknown_section_is_an_error():
    with pytest.raises(ValueError, match="unknown report section"):
        model.section("nope", {})
