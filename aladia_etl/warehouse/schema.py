"""The warehouse's tables and columns, in one place (the DDL that creates them is versioned in
`warehouse/sql/`, applied by `warehouse.migrations`).

- Star schema: `dim_customer`, `dim_product` (dimensions), `fact_order`, `fact_order_item` (facts), and
  `daily_sales_summary`. Every row carries `source_commit_lsn` and `source_lsn` (its position in the source's
  history), `source_ts` (source commit time), `loaded_at`.
- Deletes are *soft*: the row stays with `is_deleted = true` and the position of the delete, so that an older
  event replayed later can never bring it back (the position guard). Reports and `verify` read the `v_*` views.
- No foreign keys: an order and its items arrive on different topics in any order.
- Pipeline tables: `pipeline_batches` (applied batches per engine and stream), `pipeline_offsets` (next Kafka offset
  per engine and partition, written in the same transaction), `dead_letters`.
- `stg_*` are UNLOGGED staging tables written by executors / DoFns, merged and cleared by one transaction per batch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from aladia_etl.source.schema import ORDER_STATUSES

if TYPE_CHECKING:
    from psycopg import Connection

WAREHOUSE_TABLE = {
    "customers": "dim_customer",
    "products": "dim_product",
    "orders": "fact_order",
    "order_items": "fact_order_item",
}

# Each warehouse row: these columns in this order (the key first), followed by LINEAGE.
COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id", "name", "email", "country", "created_at", "updated_at"),
    "products": ("product_id", "name", "category", "price", "created_at", "updated_at"),
    "orders": ("order_id", "customer_id", "status", "total_amount", "order_date", "created_at", "updated_at"),
    "order_items": ("order_item_id", "order_id", "product_id", "quantity", "unit_price", "created_at", "updated_at"),
}
LINEAGE = (
    "is_deleted",
    "source_commit_lsn",
    "source_lsn",
    "source_ts",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
)
LINEAGE_TYPES = {
    "is_deleted": "BOOLEAN",
    "source_commit_lsn": "BIGINT",
    "source_lsn": "BIGINT",
    "source_ts": "TIMESTAMPTZ",
    "kafka_topic": "TEXT",
    "kafka_partition": "INTEGER",
    "kafka_offset": "BIGINT",
}

TYPES = {
    "is_deleted": "BOOLEAN",
    "source_commit_lsn": "BIGINT",
    "source_lsn": "BIGINT",
    "source_ts": "TIMESTAMPTZ",
    "kafka_topic": "TEXT",
    "kafka_partition": "INTEGER",
    "kafka_offset": "BIGINT",
}

_LINEAGE_DDL = """
    is_deleted   BOOLEAN NOT NULL DEFAULT false,
    source_lsn   BIGINT NOT NULL,
    source_ts    TIMESTAMPTZ NOT NULL,
    loaded_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()"""

TYPES = {
    "customer_id": "BIGINT",
    "product_id": "BIGINT",
    "order_id": "BIGINT",
    "order_item_id": "BIGINT",
    "name": "TEXT",
    "email": "TEXT",
    "country": "TEXT",
    "category": "TEXT",
    "status": "TEXT",
    "price": "NUMERIC(12,2)",
    "total_amount": "NUMERIC(12,2)",
    "unit_price": "NUMERIC(12,2)",
    "quantity": "INTEGER",
    "order_date": "DATE",
    "created_at": "TIMESTAMPTZ",
    "updated_at": "TIMESTAMPTZ",
}

# What the column types can store. The row mapping (`warehouse.rows`) validates every value against these: a value
# outside makes the staging COPY fail, and a batch that cannot be staged would stop the stream.
# - BIGINT and INTEGER: PostgreSQL's ranges.
# - NUMERIC(12,2): at most 10 digits before the point and 2 after.
# - TIMESTAMPTZ (and DATE): PostgreSQL stores 4713 BC–294276 AD, Python's datetime only the years 1–9999, and a
#   value is read back in the session's time zone (offsets up to ±15:59), hence a day's margin at both ends.
#   Values are staged in UTC (PostgreSQL refuses offsets beyond ±15:59 that Python accepts).
# - TEXT: any UTF-8 text except U+0000 (NUL).
INT_RANGE = {"BIGINT": (-(2**63), 2**63 - 1), "INTEGER": (-(2**31), 2**31 - 1), "SMALLINT": (-(2**15), 2**15 - 1)}
MONEY_LIMIT = Decimal(10) ** 10  # NUMERIC(12,2): |value| < 10**10
MONEY_PLACES = 2
TIMESTAMP_RANGE = (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC))


# One summary column per order status.
STATUS_COLUMNS = ORDER_STATUSES

STAGING_TABLES = (*(f"stg_{t}" for t in COLUMNS), "stg_dead_letters", "stg_stats")

# v_customer, v_product, v_order, v_order_item
VIEWS = {t: f"v_{WAREHOUSE_TABLE[t].split('_', 1)[1]}" for t in COLUMNS}


def ensure_schema(conn: Connection) -> None:
    """Bring the warehouse to the current schema version (idempotent; `conn` is an autocommit connection)."""
    from aladia_etl.warehouse.migrations import migrate

    migrate(conn)
