"""A step's failure crosses from a worker process to the launching process as plain data in the stream's control
row: the launching process raises it with its own type when aladia has one, and always with the reason, the fix and
the exit code the step met."""

from __future__ import annotations

import json

import pytest

from aladia_etl.core.errors import AladiaError, DataLoss, ExitCode, SchemaDrift, ServiceUnavailable
from aladia_etl.processing.resilience import OutageTooLong
from aladia_etl.warehouse.control import describe_failure, failure_error
from aladia_etl.warehouse.loader import PositionMoved


def crossed(exc: BaseException) -> AladiaError:
    return failure_error(json.loads(json.dumps(describe_failure(exc))))  # as the JSONB column carries it


@pytest.mark.parametrize(
    "error",
    [
        DataLoss("data loss: t[0] offsets 3..9 deleted", "rerun with --accept-data-loss"),
        ServiceUnavailable("Kafka unreachable", "bring it back"),
        PositionMoved("batch 4 is already in the warehouse", "run one stream per name"),
        OutageTooLong("the warehouse unreachable for 240 s", "bring it back"),
    ],
)
def test_an_aladia_error_keeps_its_reason_fix_and_exit_code(error):
    found = crossed(error)
    assert (found.reason, found.fix, found.exit_code) == (error.reason, error.fix, error.exit_code)
    if type(error).__module__ == "aladia_etl.core.errors":
        assert type(found) is type(error)


def test_a_schema_drift_keeps_what_drifted_so_the_stream_can_re_plan():
    drift = {"public.orders": {"added": ["coupon"], "missing": []}}
    found = crossed(SchemaDrift(drift))
    assert isinstance(found, SchemaDrift) and found.drift == drift


def test_any_other_exception_becomes_one_line_with_its_type_and_first_line():
    found = crossed(RuntimeError("topic\nsecond line"))
    assert (
        found.reason.startswith("the Beam pipeline failed: RuntimeError: topic") and "second line" not in found.reason
    )
    assert found.exit_code == ExitCode.ERROR and "nothing is lost" in (found.fix or "")
