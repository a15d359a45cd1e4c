"""aladia: a real-time CDC ETL toolkit (PostgreSQL -> Debezium -> Kafka -> Spark/Beam -> warehouse)."""

__version__ = "0.1.0"
