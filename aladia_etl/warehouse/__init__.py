"""The warehouse: star schema, daily summaries, pipeline bookkeeping, and the idempotent loader."""
