"""Report SQL, in one place. All queries read the live-row views (`v_*`); revenue counts orders that are not
cancelled or refunded ("open" revenue), the same definition as the daily summary."""

from __future__ import annotations

CLOSED = "('cancelled', 'refunded')"

SUMMARY = f"""
SELECT count(*)                                                        AS orders,
       count(*) FILTER (WHERE status NOT IN {CLOSED})                  AS revenue_orders,
       coalesce(sum(total_amount) FILTER (WHERE status NOT IN {CLOSED}), 0) AS revenue,
       count(*) FILTER (WHERE status = 'cancelled')                    AS cancelled,
       min(created_at)                                                 AS first_order,
       max(created_at)                                                 AS last_order
  FROM v_order
 WHERE (%(since)s::date IS NULL OR order_date >= %(since)s::date)
"""

BY_STATUS = """
SELECT status, count(*) AS orders, coalesce(sum(total_amount), 0) AS amount
  FROM v_order
 WHERE (%(since)s::date IS NULL OR order_date >= %(since)s::date)
 GROUP BY status
 ORDER BY status
"""

TOP_CUSTOMERS = f"""
SELECT o.customer_id,
       c.name,
       c.email,
       count(*)                                                          AS orders,
       coalesce(sum(o.total_amount) FILTER (WHERE o.status NOT IN {CLOSED}), 0) AS revenue,
       count(*) FILTER (WHERE o.status NOT IN {CLOSED})                  AS revenue_orders,
       max(o.created_at)                                                 AS last_order
  FROM v_order o
  LEFT JOIN v_customer c ON c.customer_id = o.customer_id
 WHERE (%(since)s::date IS NULL OR o.order_date >= %(since)s::date)
 GROUP BY o.customer_id, c.name, c.email
 ORDER BY revenue DESC, o.customer_id
 LIMIT %(top)s
"""

TOTAL_REVENUE = f"""
SELECT coalesce(sum(total_amount), 0) FROM v_order
 WHERE status NOT IN {CLOSED} AND (%(since)s::date IS NULL OR order_date >= %(since)s::date)
"""

_PRODUCT_LINES = f"""
  FROM v_order_item i
  JOIN v_order o ON o.order_id = i.order_id AND o.status NOT IN {CLOSED}
  LEFT JOIN v_product p ON p.product_id = i.product_id
 WHERE (%(since)s::date IS NULL OR o.order_date >= %(since)s::date)
"""

PRODUCTS = f"""
SELECT i.product_id, p.name, p.category,
       sum(i.quantity)                 AS units,
       sum(i.quantity * i.unit_price)  AS revenue
{_PRODUCT_LINES}
 GROUP BY i.product_id, p.name, p.category
"""

CATEGORIES = f"""
SELECT coalesce(p.category, 'unknown') AS category,
       count(DISTINCT i.product_id)    AS products,
       sum(i.quantity)                 AS units,
       sum(i.quantity * i.unit_price)  AS revenue
{_PRODUCT_LINES}
 GROUP BY 1
 ORDER BY revenue DESC, category
"""

PER_MINUTE = f"""
SELECT date_trunc('minute', created_at)                                    AS minute,
       count(*)                                                            AS orders,
       coalesce(sum(total_amount) FILTER (WHERE status NOT IN {CLOSED}), 0) AS revenue
  FROM v_order
 WHERE created_at >= %(start)s AND created_at < %(end)s
 GROUP BY 1
 ORDER BY 1
"""

ORDER_AMOUNTS = """
SELECT order_id, customer_id, total_amount, created_at
  FROM v_order
 WHERE created_at >= %(start)s AND created_at < %(end)s
 ORDER BY order_id
"""

FRESHNESS = """
SELECT max(source_ts) AS newest_source_commit, max(loaded_at) AS newest_load
  FROM (SELECT source_ts, loaded_at FROM fact_order
        UNION ALL SELECT source_ts, loaded_at FROM fact_order_item
        UNION ALL SELECT source_ts, loaded_at FROM dim_customer
        UNION ALL SELECT source_ts, loaded_at FROM dim_product) t
"""

DAILY = """
SELECT day, orders, revenue, avg_order_value, items_sold, cancelled, refunded
  FROM daily_sales_summary
 WHERE (%(since)s::date IS NULL OR day >= %(since)s::date)
 ORDER BY day
"""
