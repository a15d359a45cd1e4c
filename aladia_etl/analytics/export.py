"""Report output as JSON-ready data and CSV tables (one table per section)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any


def plain(value: Any) -> Any:
    """JSON shape: money as decimal strings (exact), times as ISO-8601 strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "as_dict"):
        return plain(value.as_dict())
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def tables(section: str, data: Any) -> dict[str, list[dict[str, Any]]]:
    """The section as named flat tables (a name per CSV file)."""
    if section == "summary":
        rows = [
            {"metric": k, "value": data[k]} for k in ("orders", "revenue", "average_order_value", "cancellation_rate")
        ]
        rows += [{"metric": f"period.{k}", "value": v} for k, v in data["period"].items()]
        rows += [{"metric": f"status.{s}.{k}", "value": v} for s, d in data["by_status"].items() for k, v in d.items()]
        return {"summary": rows}
    if section == "customers":
        return {"customers": data}
    if section == "products":
        return {
            "products_by_revenue": data["by_revenue"],
            "products_by_units": data["by_units"],
            "categories": data["by_category"],
        }
    if section == "realtime":
        fresh = [{"metric": k, "value": v} for k, v in data["freshness"].items()]
        return {"realtime_per_minute": data["per_minute"], "realtime_freshness": fresh}
    if section == "anomalies":
        return {"anomalous_minutes": data["minutes_flagged"], "anomalous_orders": data["orders_flagged"]}
    if section == "insights":
        return {"insights": [{"insight": line} for line in data]}
    raise ValueError(section)


def to_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if not rows:
        return ""
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: plain(v) for k, v in row.items()})
    return buffer.getvalue()
