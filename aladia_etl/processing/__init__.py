"""Stream processing shared by both engines: the Debezium event model, the transform, staging, the stream loop.

Nothing in `events`, `transform` or `staging` imports Spark or Beam: the engines only decide how this code runs.
"""
