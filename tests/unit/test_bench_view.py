"""What `aladia bench` prints of its freshness phase: the percentiles and, per engine, where the time went."""

from __future__ import annotations

from aladia_etl.cli.render import out
from aladia_etl.cli.views.bench import STAGE_NAMES, print_bench


def test_the_freshness_breakdown_is_printed_per_engine_and_stage(capsys):
    stage = {"p50_s": 0.123, "p95_s": 0.2, "p99_s": 0.456, "max_s": 0.6, "mean_s": 0.135}
    fresh = {
        "rate_target": 1000,
        "rate_achieved": 990.0,
        "valid": True,
        "rows": 3000,
        "p50_s": 0.9,
        "p95_s": 1.2,
        "p99_s": 1.5,
        "max_s": 2.0,
        "mean_s": 0.95,
    }
    result = {
        "freshness": {
            "spark": {
                **fresh,
                "stages": {"debezium_s": stage, "to_batch_s": stage, "staging_s": stage, "apply_s": stage},
            },
            "beam": fresh,  # a result without the breakdown (an older bench's)
        }
    }
    with out.capture() as captured:
        print_bench(result)
    text = captured.get()
    assert "Where the freshness goes" in text
    rows = [line for line in text.splitlines() if "spark" in line and "0.123" in line]
    assert len(rows) == len(STAGE_NAMES)
    for name, line in zip(STAGE_NAMES.values(), rows, strict=True):  # in the stages' order, Debezium's under its own
        assert name.strip() in line and "0.456" in line and "0.135" in line
    assert not any("beam" in line and "0.123" in line for line in text.splitlines())

    with out.capture() as captured:
        print_bench({"freshness": {"beam": fresh}})
    assert "Where the freshness goes" not in captured.get()
