"""The reader's outage is one per run in a worker process: a failed read defers its partition, and the residual may
be read by another instance of the step, whose success must end the outage the first one reported (the stream
showed an outage that never ended after a broker restart)."""

from __future__ import annotations

from aladia_etl.processing.beam.control import RunControl


def spec(run_id: str) -> dict:
    return {"conninfo": {}, "engine": "beam", "stream": "s", "run_id": run_id, "max_outage_s": 60}


def test_instances_of_a_step_share_the_reader_outage_of_their_run_and_no_other():
    first, second = RunControl(spec("run-1")), RunControl(spec("run-1"))
    shared = first.outage("Kafka (reading)", "source", shared=True)
    assert second.outage("Kafka (reading)", "source", shared=True) is shared
    assert RunControl(spec("run-2")).outage("Kafka (reading)", "source", shared=True) is not shared
    assert second.outage("Kafka (reading)", "other", shared=True) is not shared
    assert first.outage("the warehouse (staging)", "staging") is not first.outage("the warehouse (staging)", "staging")


def test_a_success_on_another_instance_ends_the_outage_one_reported():
    reports: list[str | None] = []
    failing = RunControl(spec("run-3")).outage("Kafka (reading)", "source", shared=True)
    failing.report = reports.append  # the control row's write, recorded instead
    failing.failed(ConnectionError("broker away"))
    RunControl(spec("run-3")).outage("Kafka (reading)", "source", shared=True).recovered()
    assert reports[0] is not None and reports[-1] is None
