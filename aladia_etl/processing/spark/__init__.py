"""The Spark Structured Streaming engine (pyspark is imported only here, only by `aladia stream --engine spark`)."""
