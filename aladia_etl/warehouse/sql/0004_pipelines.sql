-- Migration 4: pipeline files. Each applied batch's rows per warehouse table (per-table counters in the health API's
-- metrics and in `aladia status`); the schema other tables' staging tables live in.

ALTER TABLE pipeline_batches ADD COLUMN IF NOT EXISTS rows_by_table JSONB;

CREATE SCHEMA IF NOT EXISTS aladia_staging;
