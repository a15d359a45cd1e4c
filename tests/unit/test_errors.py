from __future__ import annotations

from aladia_etl.core import errors


def test_exit_codes_are_distinct():
    values = [code.value for code in errors.ExitCode]
    assert len(values) == len(set(values))


def test_each_error_kind_maps_to_its_exit_code():
    assert errors.ConfigError("x").exit_code == errors.ExitCode.CONFIG
    assert errors.ServiceUnavailable("x").exit_code == errors.ExitCode.UNAVAILABLE
    assert errors.PortInUse("x").exit_code == errors.ExitCode.CONFLICT
    assert errors.MissingDependency("x").exit_code == errors.ExitCode.MISSING_DEPENDENCY
    assert errors.VerificationFailed("x").exit_code == errors.ExitCode.VERIFY_FAILED


def test_message_joins_reason_and_fix_on_one_line():
    error = errors.AladiaError("Kafka Connect is not reachable at http://x", "start it with 'aladia up'")
    assert str(error) == "Kafka Connect is not reachable at http://x — start it with 'aladia up'"
    assert str(errors.AladiaError("only a reason")) == "only a reason"
