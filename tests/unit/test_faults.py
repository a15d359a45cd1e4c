"""One classification of failures: a record's fault, a service's fault (retried), or fatal."""

from __future__ import annotations

import psycopg
import pytest
import requests
from kafka.errors import KafkaConnectionError, KafkaTimeoutError, TopicAuthorizationFailedError

from aladia_etl.core.errors import ConfigError, RecordError, ServiceUnavailable
from aladia_etl.core.faults import FATAL, RECORD, SERVICE, Backoff, classify, describe


def chained(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except BaseException as exc:  # noqa: BLE001 - the exception it raised itself
        return exc


def jvm(message: str) -> BaseException:
    return type("Py4JJavaError", (Exception,), {})(message)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (RecordError("bad amount"), RECORD),
        (ServiceUnavailable("Kafka is not reachable"), SERVICE),
        (ConnectionRefusedError(111, "refused"), SERVICE),
        (TimeoutError(), SERVICE),
        (psycopg.OperationalError("connection failed: Connection refused"), SERVICE),
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), SERVICE),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), SERVICE),
        (psycopg.errors.ObjectNotInPrerequisiteState('database "warehouse" is not accepting connections'), SERVICE),
        (psycopg.errors.SerializationFailure("could not serialize"), SERVICE),
        (psycopg.errors.InvalidPassword("password authentication failed"), FATAL),
        (psycopg.errors.UndefinedTable("relation does not exist"), FATAL),
        (KafkaConnectionError("Connection reset by peer"), SERVICE),
        (KafkaTimeoutError("Failed to update metadata"), SERVICE),
        (TopicAuthorizationFailedError(), FATAL),
        (requests.ConnectionError("refused"), SERVICE),
        (ConfigError("bad setting"), FATAL),
        (ValueError("a bug"), FATAL),
        (chained(RuntimeError("batch failed"), psycopg.OperationalError("server closed the connection")), SERVICE),
        (chained(RuntimeError("batch failed"), KeyError("x")), FATAL),
        (jvm("org.apache.spark.api.python.PythonException: psycopg.OperationalError: connection refused"), SERVICE),
        (jvm("org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment"), SERVICE),
        (jvm("java.lang.NullPointerException"), FATAL),
    ],
)
def test_classify(exc, kind):
    assert classify(exc) == kind


def test_backoff_doubles_up_to_the_cap_and_measures_the_outage():
    backoff = Backoff(first=1, cap=8)
    delays = [backoff.next_delay(100.0 + i) for i in range(6)]
    assert delays == [1, 2, 4, 8, 8, 8]
    assert backoff.outage_s(130.0) == 30.0
    backoff.reset()
    assert backoff.next_delay(200.0) == 1 and backoff.outage_s(201.0) == 1.0


def test_describe_is_one_line():
    assert describe(ValueError("first\nsecond")) == "ValueError: first"
    assert describe(TimeoutError()) == "TimeoutError"
