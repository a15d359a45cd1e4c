"""Plain-language findings derived from the report's numbers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def _pct(value: Decimal | float) -> str:
    return f"{float(value) * 100:.1f}%"


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def insights(data: dict[str, Any], daily: list[dict[str, Any]], total_revenue: Decimal) -> list[str]:
    out: list[str] = []
    s = data.get("summary")
    if s:
        if not s["orders"]:
            return ["The warehouse has no orders yet: run 'aladia simulate' and 'aladia stream'."]
        first, last = s["period"]["first_order"], s["period"]["last_order"]
        span = f" between {first:%Y-%m-%d} and {last:%Y-%m-%d}" if first and last else ""
        aov = f" (average order value {_money(s['average_order_value'])})" if s["average_order_value"] else ""
        out.append(f"{s['orders']:,} orders{span} brought {_money(s['revenue'])} of revenue{aov}.")
    if len(daily) >= 14:
        recent = sum((d["revenue"] for d in daily[-7:]), Decimal(0))
        before = sum((d["revenue"] for d in daily[-14:-7]), Decimal(0))
        if before:
            change = (recent - before) / before
            trend = "grew" if change > 0 else "fell"
            out.append(
                f"Revenue {trend} {_pct(abs(change))} in the last 7 days compared with the 7 days before "
                f"({_money(recent)} vs {_money(before)})."
            )
    customers = data.get("customers")
    if customers and total_revenue:
        share = sum((c["revenue"] for c in customers), Decimal(0)) / total_revenue
        out.append(
            f"The top {len(customers)} customers account for {_pct(share)} of revenue; the largest is "
            f"{customers[0]['name'] or 'customer ' + str(customers[0]['customer_id'])} with "
            f"{_money(customers[0]['revenue'])}."
        )
    products = data.get("products")
    if products and products["by_category"]:
        cats = products["by_category"]
        product_revenue = sum((c["revenue"] for c in cats), Decimal(0))
        if product_revenue:
            best = cats[0]
            out.append(
                f"{best['category']} is the best category with {_pct(best['revenue'] / product_revenue)} of "
                f"product revenue ({best['units']:,} units)."
            )
    if s and s["cancellation_rate"] is not None:
        out.append(f"Cancellation rate: {_pct(s['cancellation_rate'])} of orders.")
    if daily:
        cancels = [d["cancelled"] for d in daily]
        mean = sum(cancels) / len(cancels)
        peak = max(daily, key=lambda d: d["cancelled"])
        if mean and peak["cancelled"] >= 2 * mean and peak["cancelled"] >= 3:
            out.append(
                f"Cancellations spiked on {peak['day']:%Y-%m-%d}: {peak['cancelled']} "
                f"({peak['cancelled'] / mean:.1f}× the daily average)."
            )
    a = data.get("anomalies")
    if a is not None:
        out += _anomaly_lines(a)
    return out


def _anomaly_lines(a: dict[str, Any]) -> list[str]:
    """Anomalies by z only; minutes with no baseline (z None) are named apart, never "the strongest"."""
    out = []
    scored = [f for f in a["minutes_flagged"] if f["z"] is not None]
    unscored = [f for f in a["minutes_flagged"] if f["z"] is None]
    if scored:
        top = max(scored, key=lambda f: abs(f["z"]))
        out.append(
            f"{len(scored)} anomalous minute(s) in the last {a['minutes']} minutes; the strongest: "
            f"{top['metric']} {top['value']:,.2f} at {top['minute']:%H:%M} UTC against a baseline "
            f"median of {top['baseline_median']:,.2f} (z {top['z']:,.2f})."
        )
    else:
        out.append(f"No anomalous minutes in the last {a['minutes']} minutes (threshold {a['threshold']}).")
    if unscored:
        first = unscored[0]
        out.append(
            f"{len(unscored)} minute value(s) differ from a baseline with no spread (every minute before them equal), "
            f"so they have no z-score and are not counted as anomalies; the first: {first['metric']} "
            f"{first['value']:,.2f} at {first['minute']:%H:%M} UTC against {first['baseline_median']:,.2f}."
        )
    if a["orders_flagged"]:
        out.append(
            f"{len(a['orders_flagged'])} order(s) with unusually high amounts, up to "
            f"{_money(max(o['total_amount'] for o in a['orders_flagged']))}."
        )
    return out
