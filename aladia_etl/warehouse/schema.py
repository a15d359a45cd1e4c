"""Warehouse DDL (database `warehouse`), in one place.

- Star schema: `dim_customer`, `dim_product` (dimensions), `fact_order`, `fact_order_item` (facts), and
  `daily_sales_summary`. Every row carries `source_lsn`, `source_ts` (source commit time), `loaded_at`.
- Deletes are *soft*: the row stays with `is_deleted = true` and the LSN of the delete, so that an older event
  replayed later can never bring it back (the LSN guard). Reports and `verify` read the `v_*` views.
- No foreign keys: an order and its items arrive on different topics in any order.
- Pipeline tables: `pipeline_batches` (applied batches per engine and stream), `pipeline_offsets` (next Kafka offset
  per engine and partition, written in the same transaction), `dead_letters`.
- `stg_*` are UNLOGGED staging tables written by executors / DoFns, merged and cleared by one transaction per batch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from aladia_etl.source.schema import ORDER_STATUSES

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
LINEAGE = ("is_deleted", "source_lsn", "source_ts", "kafka_topic", "kafka_partition", "kafka_offset")
LINEAGE_TYPES = {
    "is_deleted": "BOOLEAN",
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
INT_RANGE = {"BIGINT": (-(2**63), 2**63 - 1), "INTEGER": (-(2**31), 2**31 - 1)}
MONEY_LIMIT = Decimal(10) ** 10  # NUMERIC(12,2): |value| < 10**10
MONEY_PLACES = 2
TIMESTAMP_RANGE = (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC))


def _target_ddl(table: str) -> str:
    columns = COLUMNS[table]
    body = ",\n    ".join(f"{c} {TYPES[c]}" + (" PRIMARY KEY" if i == 0 else "") for i, c in enumerate(columns))
    return f"CREATE TABLE IF NOT EXISTS {WAREHOUSE_TABLE[table]} (\n    {body},{_LINEAGE_DDL}\n)"


def _stage_ddl(table: str) -> str:
    columns = ",\n    ".join(f"{c} {TYPES[c]}" for c in COLUMNS[table])
    return (
        f"CREATE UNLOGGED TABLE IF NOT EXISTS stg_{table} (\n    batch_token TEXT NOT NULL,\n    {columns},\n    "
        + ", ".join(f"{c} {LINEAGE_TYPES[c]} NOT NULL" for c in LINEAGE)
        + "\n)"
    )


# One summary column per order status.
STATUS_COLUMNS = ORDER_STATUSES

DDL: tuple[str, ...] = (
    *(_target_ddl(t) for t in COLUMNS),
    "CREATE INDEX IF NOT EXISTS fact_order_date_idx ON fact_order (order_date)",
    "CREATE INDEX IF NOT EXISTS fact_order_customer_idx ON fact_order (customer_id)",
    "CREATE INDEX IF NOT EXISTS fact_order_item_order_idx ON fact_order_item (order_id)",
    "CREATE INDEX IF NOT EXISTS fact_order_source_ts_idx ON fact_order (source_ts)",
    """CREATE TABLE IF NOT EXISTS daily_sales_summary (
        day              DATE PRIMARY KEY,
        orders           INTEGER NOT NULL,
        revenue          NUMERIC(14,2) NOT NULL,
        avg_order_value  NUMERIC(14,2),
        items_sold       INTEGER NOT NULL,
        """
    + ",\n        ".join(f"{s} INTEGER NOT NULL" for s in STATUS_COLUMNS)
    + """,
        computed_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    )""",
    """CREATE TABLE IF NOT EXISTS pipeline_batches (
        engine      TEXT NOT NULL,
        stream_id   TEXT NOT NULL,
        batch_id    BIGINT NOT NULL,
        records     BIGINT NOT NULL,
        rows        BIGINT NOT NULL,
        dead_letters BIGINT NOT NULL,
        applied_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (engine, stream_id, batch_id)
    )""",
    """CREATE TABLE IF NOT EXISTS pipeline_offsets (
        engine       TEXT NOT NULL,
        topic        TEXT NOT NULL,
        partition    INTEGER NOT NULL,
        next_offset  BIGINT NOT NULL,
        updated_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (engine, topic, partition)
    )""",
    """CREATE TABLE IF NOT EXISTS dead_letters (
        kafka_topic      TEXT NOT NULL,
        kafka_partition  INTEGER NOT NULL,
        kafka_offset     BIGINT NOT NULL,
        engine           TEXT NOT NULL,
        reason           TEXT NOT NULL,
        raw_key          BYTEA,
        raw_value        BYTEA,
        failed_at        TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)
    )""",
    *(_stage_ddl(t) for t in COLUMNS),
    *(f"CREATE INDEX IF NOT EXISTS stg_{t}_token_idx ON stg_{t} (batch_token)" for t in COLUMNS),
    """CREATE UNLOGGED TABLE IF NOT EXISTS stg_dead_letters (
        batch_token TEXT NOT NULL, kafka_topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL,
        kafka_offset BIGINT NOT NULL, reason TEXT NOT NULL, raw_key BYTEA, raw_value BYTEA
    )""",
    "CREATE INDEX IF NOT EXISTS stg_dead_letters_token_idx ON stg_dead_letters (batch_token)",
    # What each staging call saw (records, tombstones, dead letters, rows per table, offsets): the apply
    # transaction sums these rows instead of trusting counters handed to it.
    """CREATE UNLOGGED TABLE IF NOT EXISTS stg_stats (
        batch_token TEXT NOT NULL, stats JSONB NOT NULL, staged_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    )""",
    "CREATE INDEX IF NOT EXISTS stg_stats_token_idx ON stg_stats (batch_token)",
    *(
        f"CREATE OR REPLACE VIEW v_{WAREHOUSE_TABLE[t].split('_', 1)[1]} AS "
        f"SELECT * FROM {WAREHOUSE_TABLE[t]} WHERE NOT is_deleted"
        for t in COLUMNS
    ),
)

STAGING_TABLES = (*(f"stg_{t}" for t in COLUMNS), "stg_dead_letters", "stg_stats")

# v_customer, v_product, v_order, v_order_item
VIEWS = {t: f"v_{WAREHOUSE_TABLE[t].split('_', 1)[1]}" for t in COLUMNS}


def ensure_schema(conn) -> None:
    """Create every warehouse object that is missing (idempotent). Serialised with an advisory lock."""
    conn.execute("SELECT pg_advisory_xact_lock(7261)")
    for statement in DDL:
        conn.execute(statement)
