"""The Beam engine's view of its job when the runner's job service goes away with the job (what Prism does):
a stop still ends cleanly, and a running stream treats it as a lost runner (relaunch), not as a crash."""

from __future__ import annotations

import pytest

from aladia_etl.core.settings import Settings
from aladia_etl.processing.beam.streaming import UNREACHABLE, BeamStreamingEngine
from aladia_etl.processing.model import StreamOptions, StreamProgress


class FakeResult:
    """A stand-in for the runner's PipelineResult (the transport), not for the engine."""

    def __init__(self, state: str | None, finish_error: BaseException | None = None) -> None:
        self._state = state
        self.finish_error = finish_error
        self.cancelled = 0

    def wait_until_finish(self, duration=None):
        if self.finish_error is not None:
            raise self.finish_error

    @property
    def state(self) -> str:
        if self._state is None:
            raise ConnectionError("UNAVAILABLE: Socket closed")  # as a gRPC call to a gone job service fails
        return self._state

    def cancel(self) -> None:
        self.cancelled += 1


@pytest.fixture
def engine(tmp_path):
    progress = StreamProgress("beam")
    made = BeamStreamingEngine(Settings(data_dir=tmp_path), StreamOptions(engine="beam"), progress)
    made._read_warehouse = lambda force=False: None  # the control row's transport: nothing recorded
    return made


def test_a_stop_after_the_job_service_went_away_ends_cleanly(engine):
    engine.result = FakeResult(None, finish_error=ConnectionError("Socket closed"))
    engine.stop()
    assert engine.job_state() == UNREACHABLE
    assert engine.result.cancelled == 0
    assert engine.stopping


def test_a_stop_cancels_a_job_that_is_still_running(engine):
    engine.result = FakeResult("RUNNING")
    engine.stop()
    assert engine.result.cancelled == 1


def test_a_stop_does_not_cancel_a_job_that_ended(engine):
    engine.result = FakeResult("DONE")
    engine.stop()
    assert engine.result.cancelled == 0


@pytest.mark.parametrize(("state", "relaunched"), [(None, 1), ("DONE", 1), ("RUNNING", 0)])
def test_a_running_stream_relaunches_a_job_nobody_runs_any_more(engine, monkeypatch, state, relaunched):
    launches = []
    monkeypatch.setattr(engine, "_launch", lambda: launches.append(1))
    engine.result = FakeResult(state)
    engine.check()
    assert len(launches) == relaunched


def test_a_failure_a_step_recorded_is_raised_with_its_reason_fix_and_exit_code(engine):
    from aladia_etl.core.errors import DataLoss, ExitCode

    engine.failure = {"type": "DataLoss", "reason": "data loss: t[0]", "fix": "restart", "exit_code": 9}
    engine.result = FakeResult("RUNNING")
    with pytest.raises(DataLoss) as raised:
        engine.check()
    assert raised.value.exit_code == ExitCode.DATA_LOSS and raised.value.fix == "restart"
