"""Terminal views of command results (rich tables, the live stream view)."""
