"""A small report with every section, in the shape `api.build_report` returns (row keys as the SQL gives them)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MINUTE = NOW.replace(minute=1)


def report():
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
                "by_status": {"paid": {"orders": 3, "amount": Decimal("40.00")}},
                "cancellation_rate": Decimal("0.3333"),
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
                "by_revenue": [
                    {"product_id": 7, "name": "Lamp", "category": "Home", "units": 2, "revenue": Decimal("4.00")}
                ],
                "by_units": [
                    {"product_id": 7, "name": "Lamp", "category": "Home", "units": 2, "revenue": Decimal("4.00")}
                ],
                "by_category": [{"category": "Home", "products": 1, "units": 2, "revenue": Decimal("4.00")}],
            },
            "realtime": {
                "minutes": 2,
                "per_minute": [
                    {"minute": NOW, "orders": 0, "revenue": Decimal("0.00")},
                    {"minute": MINUTE, "orders": 5, "revenue": Decimal("9.00")},
                ],
                "freshness": {
                    "newest_source_commit": NOW,
                    "newest_load": NOW,
                    "seconds_behind": 1.5,
                    "lag_records": 0,
                },
            },
            "anomalies": {
                "method": "m",
                "threshold": 3.5,
                "minutes": 2,
                "minutes_flagged": [
                    {
                        "metric": "revenue",
                        "minute": MINUTE,
                        "value": 9.0,
                        "baseline_median": 1.0,
                        "z": 9.9,
                        "no_baseline": False,
                    }
                ],
                "orders_flagged": [
                    {
                        "order_id": 9,
                        "customer_id": 1,
                        "total_amount": Decimal("900.00"),
                        "median_amount": 25.0,
                        "z": 4.2,
                    }
                ],
                "series": [
                    {"minute": NOW, "orders": 1, "revenue": Decimal("1.00")},
                    {"minute": MINUTE, "orders": 5, "revenue": Decimal("9.00")},
                ],
            },
            "insights": ["Revenue grew & fell"],
        },
    }
