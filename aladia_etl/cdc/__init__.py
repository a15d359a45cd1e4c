"""CDC through Debezium in Kafka Connect: the REST client, the connector configuration, registration."""
