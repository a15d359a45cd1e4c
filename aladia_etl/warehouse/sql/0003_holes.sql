-- Migration 3: summaries that can hold any sum of accepted values, one running stream per name, staging rows that
-- can be told apart from a dead run's, and the identity of each topic the engines read.

-- A row accepts a quantity up to 2^31-1 and an amount just under 10^10: a day's sums need unbounded columns.
ALTER TABLE daily_sales_summary
    ALTER COLUMN orders TYPE BIGINT,
    ALTER COLUMN revenue TYPE NUMERIC,
    ALTER COLUMN avg_order_value TYPE NUMERIC,
    ALTER COLUMN items_sold TYPE NUMERIC,
    ALTER COLUMN pending TYPE BIGINT,
    ALTER COLUMN paid TYPE BIGINT,
    ALTER COLUMN shipped TYPE BIGINT,
    ALTER COLUMN delivered TYPE BIGINT,
    ALTER COLUMN cancelled TYPE BIGINT,
    ALTER COLUMN refunded TYPE BIGINT;

-- Who writes to this warehouse now: each running stream (and each dead-letter replay) holds a session advisory lock
-- (lock_key) for its life and has a row here; a row whose lock nobody holds is a dead run's.
CREATE TABLE IF NOT EXISTS pipeline_streams (
    engine      TEXT NOT NULL,
    stream      TEXT NOT NULL,
    lock_key    BIGINT NOT NULL,
    pid         INTEGER NOT NULL,
    host        TEXT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (engine, stream)
);

-- When each staging row was written: rows older than every running writer's start are a dead run's.
ALTER TABLE stg_customers ADD COLUMN IF NOT EXISTS staged_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE stg_products ADD COLUMN IF NOT EXISTS staged_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE stg_orders ADD COLUMN IF NOT EXISTS staged_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE stg_order_items ADD COLUMN IF NOT EXISTS staged_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE stg_dead_letters ADD COLUMN IF NOT EXISTS staged_at TIMESTAMPTZ NOT NULL DEFAULT now();

-- The Kafka topic id behind each engine's applied offsets: a topic deleted and created again under the same name
-- has another id, even once it has grown past the old position.
CREATE TABLE IF NOT EXISTS pipeline_topics (
    engine      TEXT NOT NULL,
    topic       TEXT NOT NULL,
    topic_id    TEXT NOT NULL,
    seen_at     TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (engine, topic)
);

-- The position an engine had reached before `stream --from-beginning` moved it back: records before it were applied,
-- so Kafka deleting them since is no data loss.
ALTER TABLE pipeline_offsets ADD COLUMN IF NOT EXISTS held_offset BIGINT;
