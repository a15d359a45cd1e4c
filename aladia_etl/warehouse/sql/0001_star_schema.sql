-- Migration 1: the warehouse as the first release created it (star schema, summaries, pipeline tables,
-- staging). Idempotent, so that it also records warehouses created before schema versions existed.

CREATE TABLE IF NOT EXISTS dim_customer (
    customer_id BIGINT PRIMARY KEY,
    name TEXT,
    email TEXT,
    country TEXT,
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    is_deleted   BOOLEAN NOT NULL DEFAULT false,
    source_lsn   BIGINT NOT NULL,
    source_ts    TIMESTAMPTZ NOT NULL,
    loaded_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE IF NOT EXISTS dim_product (
    product_id BIGINT PRIMARY KEY,
    name TEXT,
    category TEXT,
    price NUMERIC(12,2),
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    is_deleted   BOOLEAN NOT NULL DEFAULT false,
    source_lsn   BIGINT NOT NULL,
    source_ts    TIMESTAMPTZ NOT NULL,
    loaded_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE IF NOT EXISTS fact_order (
    order_id BIGINT PRIMARY KEY,
    customer_id BIGINT,
    status TEXT,
    total_amount NUMERIC(12,2),
    order_date DATE,
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    is_deleted   BOOLEAN NOT NULL DEFAULT false,
    source_lsn   BIGINT NOT NULL,
    source_ts    TIMESTAMPTZ NOT NULL,
    loaded_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE IF NOT EXISTS fact_order_item (
    order_item_id BIGINT PRIMARY KEY,
    order_id BIGINT,
    product_id BIGINT,
    quantity INTEGER,
    unit_price NUMERIC(12,2),
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    is_deleted   BOOLEAN NOT NULL DEFAULT false,
    source_lsn   BIGINT NOT NULL,
    source_ts    TIMESTAMPTZ NOT NULL,
    loaded_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX IF NOT EXISTS fact_order_date_idx ON fact_order (order_date);

CREATE INDEX IF NOT EXISTS fact_order_customer_idx ON fact_order (customer_id);

CREATE INDEX IF NOT EXISTS fact_order_item_order_idx ON fact_order_item (order_id);

CREATE INDEX IF NOT EXISTS fact_order_source_ts_idx ON fact_order (source_ts);

CREATE TABLE IF NOT EXISTS daily_sales_summary (
        day              DATE PRIMARY KEY,
        orders           INTEGER NOT NULL,
        revenue          NUMERIC(14,2) NOT NULL,
        avg_order_value  NUMERIC(14,2),
        items_sold       INTEGER NOT NULL,
        pending INTEGER NOT NULL,
        paid INTEGER NOT NULL,
        shipped INTEGER NOT NULL,
        delivered INTEGER NOT NULL,
        cancelled INTEGER NOT NULL,
        refunded INTEGER NOT NULL,
        computed_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    );

CREATE TABLE IF NOT EXISTS pipeline_batches (
        engine      TEXT NOT NULL,
        stream_id   TEXT NOT NULL,
        batch_id    BIGINT NOT NULL,
        records     BIGINT NOT NULL,
        rows        BIGINT NOT NULL,
        dead_letters BIGINT NOT NULL,
        applied_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (engine, stream_id, batch_id)
    );

CREATE TABLE IF NOT EXISTS pipeline_offsets (
        engine       TEXT NOT NULL,
        topic        TEXT NOT NULL,
        partition    INTEGER NOT NULL,
        next_offset  BIGINT NOT NULL,
        updated_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (engine, topic, partition)
    );

CREATE TABLE IF NOT EXISTS dead_letters (
        kafka_topic      TEXT NOT NULL,
        kafka_partition  INTEGER NOT NULL,
        kafka_offset     BIGINT NOT NULL,
        engine           TEXT NOT NULL,
        reason           TEXT NOT NULL,
        raw_key          BYTEA,
        raw_value        BYTEA,
        failed_at        TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)
    );

CREATE UNLOGGED TABLE IF NOT EXISTS stg_customers (
    batch_token TEXT NOT NULL,
    customer_id BIGINT,
    name TEXT,
    email TEXT,
    country TEXT,
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    is_deleted BOOLEAN NOT NULL, source_lsn BIGINT NOT NULL, source_ts TIMESTAMPTZ NOT NULL, kafka_topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL
);

CREATE UNLOGGED TABLE IF NOT EXISTS stg_products (
    batch_token TEXT NOT NULL,
    product_id BIGINT,
    name TEXT,
    category TEXT,
    price NUMERIC(12,2),
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    is_deleted BOOLEAN NOT NULL, source_lsn BIGINT NOT NULL, source_ts TIMESTAMPTZ NOT NULL, kafka_topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL
);

CREATE UNLOGGED TABLE IF NOT EXISTS stg_orders (
    batch_token TEXT NOT NULL,
    order_id BIGINT,
    customer_id BIGINT,
    status TEXT,
    total_amount NUMERIC(12,2),
    order_date DATE,
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    is_deleted BOOLEAN NOT NULL, source_lsn BIGINT NOT NULL, source_ts TIMESTAMPTZ NOT NULL, kafka_topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL
);

CREATE UNLOGGED TABLE IF NOT EXISTS stg_order_items (
    batch_token TEXT NOT NULL,
    order_item_id BIGINT,
    order_id BIGINT,
    product_id BIGINT,
    quantity INTEGER,
    unit_price NUMERIC(12,2),
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    is_deleted BOOLEAN NOT NULL, source_lsn BIGINT NOT NULL, source_ts TIMESTAMPTZ NOT NULL, kafka_topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS stg_customers_token_idx ON stg_customers (batch_token);

CREATE INDEX IF NOT EXISTS stg_products_token_idx ON stg_products (batch_token);

CREATE INDEX IF NOT EXISTS stg_orders_token_idx ON stg_orders (batch_token);

CREATE INDEX IF NOT EXISTS stg_order_items_token_idx ON stg_order_items (batch_token);

CREATE UNLOGGED TABLE IF NOT EXISTS stg_dead_letters (
        batch_token TEXT NOT NULL, kafka_topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL,
        kafka_offset BIGINT NOT NULL, reason TEXT NOT NULL, raw_key BYTEA, raw_value BYTEA
    );

CREATE INDEX IF NOT EXISTS stg_dead_letters_token_idx ON stg_dead_letters (batch_token);

CREATE OR REPLACE VIEW v_customer AS SELECT * FROM dim_customer WHERE NOT is_deleted;

CREATE OR REPLACE VIEW v_product AS SELECT * FROM dim_product WHERE NOT is_deleted;

CREATE OR REPLACE VIEW v_order AS SELECT * FROM fact_order WHERE NOT is_deleted;

CREATE OR REPLACE VIEW v_order_item AS SELECT * FROM fact_order_item WHERE NOT is_deleted;
