"""Report output as JSON-ready data and CSV tables (one file per table of the report model)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aladia_etl.analytics import model
from aladia_etl.analytics.model import Table


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


def tables(section: str, data: Any) -> dict[str, Table]:
    """The section's tables by name (a name per CSV file)."""
    return {table.name: table for table in model.section(section, data).tables}


def to_csv(table: Table) -> str:
    """The table as CSV: a header of the model's column keys, then every row (values as in the JSON)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.keys)
    for row in table.rows:
        writer.writerow([plain(v) for v in table.cells(row)])
    return buffer.getvalue()
