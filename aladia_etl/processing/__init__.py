"""Stream processing: the Debezium event model, the one path every bundle of records takes (`bundle`), the stream
model and loop, and the engines (`spark`, `beam`) that only decide how records are read and where that path runs.

Nothing in `events`, `transform` or `bundle` imports Spark or Beam.
"""
