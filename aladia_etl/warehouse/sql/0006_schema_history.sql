-- Migration 6: every schema change of a mirrored table a stream met, applied or refused (`aladia schema history`).

CREATE TABLE IF NOT EXISTS schema_history (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    engine      TEXT NOT NULL,
    stream      TEXT NOT NULL,
    source_table TEXT NOT NULL,
    kind        TEXT NOT NULL,   -- add_column | drop_column | type_change
    column_name TEXT NOT NULL,
    detail      TEXT,            -- a type change: "old → new"
    outcome     TEXT NOT NULL    -- evolve | ignore | widen | keep | fail
);
CREATE INDEX IF NOT EXISTS schema_history_table ON schema_history (source_table, at);
