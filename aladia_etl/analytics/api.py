"""The report sections. Each function takes a warehouse connection and returns plain data (money as Decimal,
times as datetimes); `build_report` assembles the sections the CLI renders as a table, JSON, CSV or HTML."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from aladia_etl.analytics import queries
from aladia_etl.analytics.anomalies import high_outliers, rolling_outliers

if TYPE_CHECKING:
    from psycopg import Connection

    from aladia_etl.core.settings import Settings

SECTIONS = ("summary", "customers", "products", "realtime", "anomalies", "insights")
CENT = Decimal("0.01")


def connect(settings: Settings) -> Connection:
    from aladia_etl.warehouse.loader import connect as warehouse_connect

    return warehouse_connect(settings)


def _ratio(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP) if whole else None


def _avg(total: Decimal, count: int) -> Decimal | None:
    return (Decimal(total) / count).quantize(CENT, ROUND_HALF_UP) if count else None


def _rows(conn: Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def summary(conn: Connection, since: date | None = None) -> dict[str, Any]:
    row = _rows(conn, queries.SUMMARY, {"since": since})[0]
    statuses = _rows(conn, queries.BY_STATUS, {"since": since})
    return {
        "orders": row["orders"],
        "revenue": Decimal(row["revenue"]),
        "average_order_value": _avg(row["revenue"], row["revenue_orders"]),
        "by_status": {s["status"]: {"orders": s["orders"], "amount": Decimal(s["amount"])} for s in statuses},
        "cancellation_rate": _ratio(row["cancelled"], row["orders"]),
        "period": {"first_order": row["first_order"], "last_order": row["last_order"], "since": since},
    }


def top_customers(conn: Connection, top: int = 10, since: date | None = None) -> list[dict[str, Any]]:
    out = []
    for r in _rows(conn, queries.TOP_CUSTOMERS, {"top": top, "since": since}):
        out.append(
            {
                "customer_id": r["customer_id"],
                "name": r["name"],
                "email": r["email"],
                "orders": r["orders"],
                "revenue": Decimal(r["revenue"]),
                "average_order_value": _avg(r["revenue"], r["revenue_orders"]),
                "last_order": r["last_order"],
            }
        )
    return out


def products(conn: Connection, top: int = 10, since: date | None = None) -> dict[str, Any]:
    rows = _rows(conn, queries.PRODUCTS, {"since": since})
    for r in rows:
        r["revenue"] = Decimal(r["revenue"])
    by_revenue = sorted(rows, key=lambda r: (-r["revenue"], r["product_id"]))[:top]
    by_units = sorted(rows, key=lambda r: (-r["units"], r["product_id"]))[:top]
    categories = [{**c, "revenue": Decimal(c["revenue"])} for c in _rows(conn, queries.CATEGORIES, {"since": since})]
    return {"by_revenue": by_revenue, "by_units": by_units, "by_category": categories}


def _minutes(now: datetime, minutes: int) -> tuple[datetime, datetime, list[datetime]]:
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    return start, end, [start + timedelta(minutes=i) for i in range(minutes)]


def per_minute(conn: Connection, minutes: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """Orders and revenue per minute over the last `minutes` minutes (minutes without orders included)."""
    start, end, buckets = _minutes(now or datetime.now(UTC), minutes)
    found = {r["minute"]: r for r in _rows(conn, queries.PER_MINUTE, {"start": start, "end": end})}
    return [
        {
            "minute": m,
            "orders": found[m]["orders"] if m in found else 0,
            "revenue": Decimal(found[m]["revenue"]) if m in found else Decimal("0.00"),
        }
        for m in buckets
    ]


def realtime(
    conn: Connection, minutes: int = 15, now: datetime | None = None, lag: int | None = None
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    fresh = _rows(conn, queries.FRESHNESS, {})[0]
    newest = fresh["newest_source_commit"]
    return {
        "minutes": minutes,
        "per_minute": per_minute(conn, minutes, now),
        "freshness": {
            "newest_source_commit": newest,
            "newest_load": fresh["newest_load"],
            "seconds_behind": round((now - newest).total_seconds(), 3) if newest else None,
            "lag_records": lag,
        },
    }


def anomalies(
    conn: Connection, minutes: int = 120, threshold: float = 3.5, now: datetime | None = None
) -> dict[str, Any]:
    # Only complete minutes: the minute in progress would look like a drop.
    now = (now or datetime.now(UTC)).replace(second=0, microsecond=0) - timedelta(microseconds=1)
    series = per_minute(conn, minutes, now)
    revenue = [float(m["revenue"]) for m in series]
    counts = [float(m["orders"]) for m in series]
    minutes_flagged = []
    for metric, values in (("revenue", revenue), ("orders", counts)):
        for score in rolling_outliers(values, threshold):
            minutes_flagged.append(
                {
                    "metric": metric,
                    "minute": series[score.index]["minute"],
                    "value": score.value,
                    "baseline_median": score.baseline,
                    "z": None if score.z is None else round(score.z, 2),
                    "no_baseline": score.no_baseline,
                }
            )
    start, end, _ = _minutes(now, minutes)
    orders = _rows(conn, queries.ORDER_AMOUNTS, {"start": start, "end": end})
    # Order amounts are heavy-tailed (a few electronics orders dwarf groceries): score them on a log scale.
    amounts = [math.log1p(float(o["total_amount"])) for o in orders]
    order_flags = [
        {
            "order_id": orders[s.index]["order_id"],
            "customer_id": orders[s.index]["customer_id"],
            "total_amount": Decimal(orders[s.index]["total_amount"]),
            "median_amount": round(math.expm1(s.baseline), 2),
            "z": round(s.z or 0.0, 2),
        }
        for s in sorted(high_outliers(amounts, threshold), key=lambda s: -(s.z or 0.0))
    ]
    return {
        "method": "modified z-score (median/MAD): each minute against the 30 minutes before it; each order's "
        "log(1 + amount) against all orders of the period; a minute that differs from a baseline with no spread "
        "(all the minutes before it equal) has no z-score (z null, no_baseline true) and is not counted as an anomaly",
        "threshold": threshold,
        "minutes": minutes,
        "minutes_flagged": minutes_flagged,
        "orders_flagged": order_flags,
        "series": series,
    }


def daily(conn: Connection, since: date | None = None) -> list[dict[str, Any]]:
    rows = _rows(conn, queries.DAILY, {"since": since})
    for r in rows:  # NUMERIC in the summary (any sum fits), a whole number to read
        r["items_sold"] = int(r["items_sold"])
    return rows


def build_report(
    conn: Connection,
    sections: tuple[str, ...] = SECTIONS,
    top: int = 10,
    minutes: int = 60,
    since: date | None = None,
    threshold: float = 3.5,
    lag: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    from aladia_etl.analytics.insights import insights

    now = now or datetime.now(UTC)
    report: dict[str, Any] = {
        "generated_at": now,
        "parameters": {"top": top, "minutes": minutes, "since": since, "threshold": threshold},
        "sections": {},
    }
    wanted = set(sections)
    needs = wanted | ({"summary", "customers", "products", "anomalies"} if "insights" in wanted else set())
    data: dict[str, Any] = {}
    if "summary" in needs:
        data["summary"] = summary(conn, since)
    if "customers" in needs:
        data["customers"] = top_customers(conn, top, since)
    if "products" in needs:
        data["products"] = products(conn, top, since)
    if "realtime" in needs:
        data["realtime"] = realtime(conn, minutes, now, lag)
    if "anomalies" in needs:
        data["anomalies"] = anomalies(conn, max(minutes, 60), threshold, now)
    if "insights" in wanted:
        data["insights"] = insights(data, daily(conn, since), total_revenue=data["summary"]["revenue"])
    report["sections"] = {name: data[name] for name in SECTIONS if name in wanted}
    report["daily"] = daily(conn, since)
    return report
