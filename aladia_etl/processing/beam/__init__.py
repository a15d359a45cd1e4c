"""The Apache Beam engine (apache_beam is imported only here, only by `aladia stream --engine beam`)."""
