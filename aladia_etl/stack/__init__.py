"""The local stack: PostgreSQL, a KRaft Kafka broker and a Kafka Connect worker with Debezium, as real processes."""
