"""Kafka helpers: topics and lag, consuming and producing, the dead-letter queue."""
