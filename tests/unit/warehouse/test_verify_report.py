"""A table the pipeline includes that the warehouse does not have yet (created in the source under
`new_table: ignore`, or before a stream captured it) is a difference verify names, not a crash."""

from __future__ import annotations

from aladia_etl.warehouse.verify import SummaryReport, TableReport, VerifyReport, compare_table


def test_a_table_missing_from_the_warehouse_is_a_difference_even_when_the_source_is_empty():
    empty = compare_table("shop.later", {}, {})
    assert empty.ok
    empty.absent = True
    assert not empty.ok and empty.as_dict()["in_warehouse"] is False
    rows = compare_table("shop.later", {1: ("1", "a")}, {})
    rows.absent = True
    assert rows.as_dict()["missing"] == 1 and not VerifyReport([rows], SummaryReport(applies=False), "now").ok


def test_the_report_names_the_table_and_how_to_capture_it(capsys):
    from aladia_etl.cli.views.verify import print_verify

    absent = TableReport("shop.later", source_rows=1, missing=[1], absent=True)
    print_verify(VerifyReport([absent, TableReport("shop.items", 2, 2)], SummaryReport(applies=False), "now"))
    captured = capsys.readouterr()
    assert "no table" in captured.out
    assert "shop.later is in the pipeline but not in the warehouse" in captured.err
    assert "aladia cdc register" in captured.err and "shop.items is" not in captured.err


def test_a_table_name_is_shown_as_it_is_not_as_markup(capsys):
    from aladia_etl.cli.views.verify import print_verify

    odd = TableReport("shop.[bold]later", source_rows=1, missing=[1], absent=True)
    print_verify(VerifyReport([odd], SummaryReport(applies=False), "now"))
    captured = capsys.readouterr()
    assert "shop.[bold]later is in the pipeline" in captured.err
