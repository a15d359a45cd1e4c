-- Migration 7: the daily summary moves by each batch's difference instead of being recomputed from every order of
-- its days. The average needs how many open orders of the day have an amount; the summary is rebuilt once from the
-- facts so that every later difference starts from an exact row, under the summary's lock (loader.SUMMARY_LOCK). The
-- column has no default in the end: a writer of an earlier release, which recomputes days without it, fails on it
-- instead of leaving a divisor of 0 that later differences would build on.
SELECT pg_advisory_xact_lock(7262);

ALTER TABLE daily_sales_summary ADD COLUMN IF NOT EXISTS open_priced BIGINT NOT NULL DEFAULT 0;

DELETE FROM daily_sales_summary;

INSERT INTO daily_sales_summary (day, orders, revenue, avg_order_value, items_sold, open_priced,
                                 pending, paid, shipped, delivered, cancelled, refunded, computed_at)
SELECT o.order_date,
       count(*),
       coalesce(sum(o.total_amount) FILTER (WHERE o.status NOT IN ('cancelled', 'refunded')), 0),
       round(avg(o.total_amount) FILTER (WHERE o.status NOT IN ('cancelled', 'refunded')), 2),
       coalesce(sum(items.qty) FILTER (WHERE o.status NOT IN ('cancelled', 'refunded')), 0),
       count(o.total_amount) FILTER (WHERE o.status NOT IN ('cancelled', 'refunded')),
       count(*) FILTER (WHERE o.status = 'pending'),
       count(*) FILTER (WHERE o.status = 'paid'),
       count(*) FILTER (WHERE o.status = 'shipped'),
       count(*) FILTER (WHERE o.status = 'delivered'),
       count(*) FILTER (WHERE o.status = 'cancelled'),
       count(*) FILTER (WHERE o.status = 'refunded'),
       clock_timestamp()
  FROM fact_order o
  LEFT JOIN (SELECT order_id, sum(quantity::numeric) AS qty FROM fact_order_item WHERE NOT is_deleted
              GROUP BY order_id) items ON items.order_id = o.order_id
 WHERE NOT o.is_deleted AND o.order_date IS NOT NULL
 GROUP BY o.order_date;

ALTER TABLE daily_sales_summary ALTER COLUMN open_priced DROP DEFAULT;
