-- Migration 5: Beam's steps run in worker processes that share nothing with the launching process. What they share
-- travels through the warehouse: each running stream's control row (its run, a stop request, the failure a step
-- met, a step's retrying status), the chunks staged by the workers and not yet applied (the reorder buffer), and
-- which workers staged each applied batch.

ALTER TABLE pipeline_streams ADD COLUMN IF NOT EXISTS run_id TEXT;
ALTER TABLE pipeline_streams ADD COLUMN IF NOT EXISTS stop_requested BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE pipeline_streams ADD COLUMN IF NOT EXISTS failure JSONB;
ALTER TABLE pipeline_streams ADD COLUMN IF NOT EXISTS retrying JSONB;

ALTER TABLE pipeline_batches ADD COLUMN IF NOT EXISTS staged_by TEXT[];

CREATE UNLOGGED TABLE IF NOT EXISTS stg_beam_chunks (
    batch_token     TEXT NOT NULL PRIMARY KEY,
    engine          TEXT NOT NULL,
    stream_id       TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    kafka_topic     TEXT NOT NULL,
    kafka_partition INTEGER NOT NULL,
    start_offset    BIGINT NOT NULL,
    end_offset      BIGINT NOT NULL,
    records         INTEGER NOT NULL,
    worker          TEXT NOT NULL,
    stage_started_ms BIGINT,
    staged_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS stg_beam_chunks_stream ON stg_beam_chunks (engine, stream_id);
