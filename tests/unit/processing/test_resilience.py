"""Riding out a service's outage: backoff, the status shown while retrying, the limit, fatal errors."""

from __future__ import annotations

import threading

import psycopg
import pytest

from aladia_etl.processing.resilience import Outage, OutageTooLong, Stopped

DOWN = psycopg.OperationalError("connection failed: Connection refused")


def test_a_service_fault_is_retried_with_backoff_and_reported():
    seen = []
    outage = Outage("the warehouse", limit_s=100, report=seen.append)
    assert outage.failed(DOWN, now=0.0) == 1.0
    assert outage.failed(DOWN, now=1.0) == 2.0
    assert outage.failed(DOWN, now=3.0) == 4.0
    status = outage.status(now=4.0)
    assert status.startswith("the warehouse unreachable (OperationalError: connection failed")
    assert "retrying in 3 s, 3rd attempt, down for 4 s" in status
    assert seen[-1] is not None and outage.active
    outage.recovered()
    assert seen[-1] is None and not outage.active and outage.failed(DOWN, now=50.0) == 1.0


def test_an_outage_longer_than_the_limit_stops_with_one_line():
    outage = Outage("Kafka", limit_s=30)
    outage.failed(DOWN, now=0.0)
    with pytest.raises(OutageTooLong) as info:
        outage.failed(DOWN, now=31.0)
    assert "Kafka unreachable for 31 s (limit 30 s)" in str(info.value)
    assert "--max-outage" in info.value.fix


def test_fatal_errors_are_not_retried():
    outage = Outage("the warehouse", limit_s=100)
    with pytest.raises(psycopg.errors.InvalidPassword):
        outage.failed(psycopg.errors.InvalidPassword("password authentication failed"))
    with pytest.raises(KeyError):
        outage.failed(KeyError("bug"))
    assert not outage.active


def test_retry_runs_the_step_until_it_succeeds_or_the_stream_stops():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise DOWN
        return "done"

    outage = Outage("the warehouse", limit_s=100)
    outage.backoff.first = 0.01
    assert outage.retry(flaky, threading.Event()) == "done" and len(calls) == 3 and not outage.active
    stopped = threading.Event()
    stopped.set()

    def always_down():
        raise DOWN

    with pytest.raises(Stopped):
        outage.retry(always_down, stopped)
