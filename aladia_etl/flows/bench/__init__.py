"""`aladia bench`: throughput and freshness of both engines and of two peers, measured side by side in one run."""
