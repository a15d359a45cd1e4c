"""Every version that must agree with another lives here, and only here.

- Kafka broker and Kafka Connect run the Kafka version that Debezium's own parent POM declares
  (``version.kafka`` in ``io.debezium:debezium-parent:3.6.1.Final`` is 4.3.0).
- The Spark Kafka connector (``spark-sql-kafka-0-10``) must be built for exactly the installed pyspark
  and its Scala binary version; pyproject.toml pins ``pyspark==SPARK_VERSION``.
"""

from __future__ import annotations

from importlib import metadata

DEBEZIUM_VERSION = "3.6.1.Final"
KAFKA_VERSION = "4.3.0"
KAFKA_SCALA_BINARY = "2.13"
SPARK_VERSION = "4.2.0"
SPARK_SCALA_BINARY = "2.13"
# Beam's Prism runner is built or downloaded for exactly this SDK version; pyproject.toml pins apache-beam to it.
BEAM_VERSION = "2.77.0"
POSTGRES_JDBC_VERSION = "42.7.11"
LOG4J_VERSION = "2.24.3"
SLF4J_VERSION = "2.0.17"

# The Debezium JDBC sink (only used by `aladia bench` as a peer). 3.6.1.Final is not served by Maven Central
# here (neither is 3.6.0.Final's hibernate-agroal dependency); 3.5.0.Final is the newest that resolves with its
# dependencies. Connect isolates plugins, so it runs beside the 3.6.1.Final PostgreSQL connector.
DEBEZIUM_JDBC_SINK_VERSION = "3.5.0.Final"

POSTGRES_CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
JDBC_SINK_CONNECTOR_CLASS = "io.debezium.connector.jdbc.JdbcSinkConnector"

MIN_JAVA_MAJOR = 17


def installed_version(distribution: str) -> str | None:
    """Version of an installed Python distribution, or None when it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def spark_connector_coordinate(spark_version: str = SPARK_VERSION) -> str:
    return f"org.apache.spark:spark-sql-kafka-0-10_{SPARK_SCALA_BINARY}:{spark_version}"


def components() -> dict[str, str]:
    """The pinned versions of everything aladia runs (what `aladia --version` shows)."""
    return {
        "kafka": KAFKA_VERSION,
        "kafka_connect": KAFKA_VERSION,
        "debezium": DEBEZIUM_VERSION,
        "debezium_jdbc_sink": DEBEZIUM_JDBC_SINK_VERSION,
        "spark": SPARK_VERSION,
        "beam": BEAM_VERSION,
        "postgres_jdbc": POSTGRES_JDBC_VERSION,
        "java_min": str(MIN_JAVA_MAJOR),
    }
