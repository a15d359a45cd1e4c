"""Flows that compose the pipeline stages: the demo, the bench, the status of the whole pipeline."""
