"""`aladia verify`'s daily summary expected from the source rows: the same definition the warehouse's SQL has."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from aladia_etl.warehouse.schema import STATUS_COLUMNS
from aladia_etl.warehouse.verify import compare_summary, expected_summary

DAY, OTHER = date(2026, 12, 1), date(2026, 12, 2)


def order(order_id: int, status: str | None, total: str | None, day: date | None = DAY) -> tuple[int, tuple]:
    return order_id, (order_id, 1, status, Decimal(total) if total is not None else None, day)


def test_the_average_and_its_divisor_count_only_open_orders_with_an_amount():
    orders = dict(
        [
            order(1, "paid", "10.00"),
            order(2, "pending", None),  # open, no amount: counted among the orders, not in the average
            order(3, "cancelled", "99.00"),  # closed: no revenue, no items
            order(4, "shipped", "15.01"),
            order(5, "paid", "1.00", day=None),  # no day: in no day's summary
            order(6, "unheard-of", "2.00"),  # an odd status is open and in no status column
            order(7, None, "3.00"),  # no status: not open
        ]
    )
    items = {10: (10, 1, 1, 2), 11: (11, 3, 1, 5), 12: (12, 2, 1, 4)}  # (id, order, product, quantity)
    summary = expected_summary(orders, items)
    assert set(summary) == {DAY}
    row = summary[DAY]
    statuses = dict(zip(STATUS_COLUMNS, row[4:-1], strict=True))
    assert row[0] == 6
    assert row[1] == Decimal("27.01")
    assert row[2] == Decimal("9.00")  # 27.01 / 3, rounded half up
    assert row[3] == 6  # order 1's 2 and order 2's 4; not the cancelled order's 5
    assert (statuses["paid"], statuses["pending"], statuses["cancelled"], statuses["shipped"]) == (1, 1, 1, 1)
    assert sum(statuses.values()) == 4
    assert row[-1] == 3  # open_priced


def test_a_wrong_divisor_is_a_difference_even_while_the_average_is_right():
    expected = expected_summary(dict([order(1, "paid", "10.00"), order(2, "paid", "10.00", day=OTHER)]), {})
    actual = {day: (*row[:-1], row[-1] + 1) for day, row in expected.items() if day == DAY}
    actual[OTHER] = expected[OTHER]
    report = compare_summary(expected, actual)
    assert report.different == [DAY.isoformat()] and not report.missing and not report.extra
