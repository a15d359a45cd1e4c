"""Source schema in `sourcedb`: the captured tables, the heartbeat table and the publication.

Captured tables have REPLICA IDENTITY FULL so that updates and deletes carry complete before-images and unchanged
TOASTed columns arrive with their real value (never `__debezium_unavailable_value`).
"""

from __future__ import annotations

ORDER_STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "refunded")

# Allowed status transitions (the order lifecycle).
LIFECYCLE: dict[str, tuple[str, ...]] = {
    "pending": ("paid", "cancelled"),
    "paid": ("shipped", "cancelled"),
    "shipped": ("delivered",),
    "delivered": ("refunded",),
    "cancelled": (),
    "refunded": (),
}

CAPTURED_TABLES = ("customers", "products", "orders", "order_items")
HEARTBEAT_TABLE = "aladia_heartbeat"
# Debezium's signalling table (`aladia cdc snapshot` writes its requests here; Debezium writes its snapshot windows'
# watermarks): in the publication, so that the connector sees both in the change stream.
SIGNAL_TABLE = "aladia_signal"
OWN_SOURCE_TABLES = (HEARTBEAT_TABLE, SIGNAL_TABLE)

_STATUS_LIST = ", ".join(f"'{s}'" for s in ORDER_STATUSES)

TABLE_DDL: dict[str, str] = {
    "customers": """
        CREATE TABLE public.customers (
            id          BIGSERIAL PRIMARY KEY,
            name        TEXT NOT NULL,
            email       TEXT NOT NULL,
            country     TEXT,
            notes       TEXT,
            created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
        )""",
    "products": """
        CREATE TABLE public.products (
            id          BIGSERIAL PRIMARY KEY,
            name        TEXT NOT NULL,
            category    TEXT NOT NULL,
            price       NUMERIC(12,2) NOT NULL CHECK (price >= 0),
            created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
        )""",
    "orders": f"""
        CREATE TABLE public.orders (
            id            BIGSERIAL PRIMARY KEY,
            customer_id   BIGINT NOT NULL REFERENCES public.customers(id),
            status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ({_STATUS_LIST})),
            total_amount  NUMERIC(12,2) NOT NULL DEFAULT 0 CHECK (total_amount >= 0),
            created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
        )""",
    "order_items": """
        CREATE TABLE public.order_items (
            id          BIGSERIAL PRIMARY KEY,
            order_id    BIGINT NOT NULL REFERENCES public.orders(id),
            product_id  BIGINT NOT NULL REFERENCES public.products(id),
            quantity    INTEGER NOT NULL CHECK (quantity > 0),
            unit_price  NUMERIC(12,2) NOT NULL CHECK (unit_price >= 0),
            created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
        )""",
    HEARTBEAT_TABLE: f"""
        CREATE TABLE public.{HEARTBEAT_TABLE} (
            id       INTEGER PRIMARY KEY,
            beat_at  TIMESTAMPTZ NOT NULL
        )""",
    SIGNAL_TABLE: f"""
        CREATE TABLE public.{SIGNAL_TABLE} (
            id    VARCHAR(64) PRIMARY KEY,
            type  VARCHAR(32) NOT NULL,
            data  TEXT
        )""",
}

INDEX_DDL = (
    "CREATE INDEX IF NOT EXISTS orders_customer_idx ON public.orders (customer_id)",
    "CREATE INDEX IF NOT EXISTS orders_status_idx ON public.orders (status)",
    "CREATE INDEX IF NOT EXISTS order_items_order_idx ON public.order_items (order_id)",
    "CREATE INDEX IF NOT EXISTS order_items_product_idx ON public.order_items (product_id)",
)

UPDATED_AT_FUNCTION = """
CREATE OR REPLACE FUNCTION public.aladia_set_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$ LANGUAGE plpgsql"""


def updated_at_trigger(table: str) -> str:
    return (
        f"CREATE OR REPLACE TRIGGER {table}_set_updated_at BEFORE UPDATE ON public.{table} "
        "FOR EACH ROW EXECUTE FUNCTION public.aladia_set_updated_at()"
    )


def heartbeat_query() -> str:
    """What Debezium runs every heartbeat interval: a write the slot sees even when the captured tables are idle."""
    return (
        f"INSERT INTO public.{HEARTBEAT_TABLE} (id, beat_at) VALUES (1, now()) "
        "ON CONFLICT (id) DO UPDATE SET beat_at = EXCLUDED.beat_at"
    )
