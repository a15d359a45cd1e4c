"""`aladia demo`: the whole flow on the local default stack, one step after the other.

up → init → cdc register → simulate while the stream runs → stream until idle → verify → report (+ HTML).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aladia_etl.core.errors import UsageError, VerificationFailed
from aladia_etl.core.progress import SILENT, Reporter
from aladia_etl.core.settings import Settings

STEPS = ("up", "init", "cdc register", "simulate + stream", "stream until idle", "verify", "report")


@dataclass
class DemoOptions:
    engine: str = "spark"
    duration: float = 30.0
    rate: float = 200.0
    html: Path | None = None
    seed: int = 42


@dataclass
class DemoResult:
    simulated: dict[str, Any] = field(default_factory=dict)
    stream: dict[str, Any] = field(default_factory=dict)
    verify: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    html: Path | None = None


def run_demo(
    settings: Settings,
    options: DemoOptions,
    reporter: Reporter = SILENT,
    on_step: Callable[[int, str], None] | None = None,
    on_stream_progress: Callable[[Any], None] | None = None,
) -> DemoResult:
    from aladia_etl.analytics import service
    from aladia_etl.bus.offsets import total_records, wait_for_records
    from aladia_etl.bus.topics import cdc_topics
    from aladia_etl.cdc.service import register
    from aladia_etl.processing.loop import run_stream
    from aladia_etl.processing.model import StreamOptions, check_engine
    from aladia_etl.source.bootstrap import bootstrap
    from aladia_etl.source.seed import SeedSpec
    from aladia_etl.source.workload import simulate as run_workload
    from aladia_etl.stack.local import LocalStack
    from aladia_etl.warehouse.verify import verify

    check_engine(options.engine)
    if options.duration <= 0 or options.rate <= 0:
        raise UsageError("--duration and --rate must be positive", "e.g. aladia demo --duration 30 --rate 200")

    def step(i: int) -> None:
        if on_step:
            on_step(i, STEPS[i])

    result = DemoResult()
    step(0)
    LocalStack(settings, reporter).up()
    step(1)
    bootstrap(settings, SeedSpec(rng_seed=options.seed), reporter=reporter)
    step(2)
    register(settings, reporter=reporter)

    step(3)
    simulation_done = threading.Event()
    failure: list[BaseException] = []

    topics = cdc_topics(settings)
    before = total_records(settings, topics)

    def simulate() -> None:
        try:
            stats = run_workload(settings, rate=options.rate, duration=options.duration, seed=options.seed)
            result.simulated = stats.as_dict()
            # Idle only counts once Debezium has published every change the simulation made.
            wait_for_records(settings, topics, before + stats.cdc_records)
        except BaseException as exc:  # noqa: BLE001 - reported after the stream stops
            failure.append(exc)
        finally:
            simulation_done.set()

    simulator = threading.Thread(target=simulate, name="aladia-demo-simulator", daemon=True)
    simulator.start()
    stream_options = StreamOptions(engine=options.engine, until_idle=True, trigger_interval=1.0)
    progress = run_stream(settings, stream_options, on_progress=on_stream_progress, idle_gate=simulation_done)
    simulator.join()
    if failure:
        raise failure[0]
    step(4)
    result.stream = progress.as_dict()

    step(5)
    report = verify(settings)
    result.verify = report.as_dict()
    if not report.ok:
        raise VerificationFailed(
            "the warehouse differs from the source after the demo run", "run 'aladia verify' for the details"
        )
    step(6)
    result.report = service.build(
        settings,
        service.parse_sections([]),
        top=10,
        minutes=max(5, int(options.duration // 60) + 5),
        since=None,
        threshold=3.5,
    )
    result.html = service.write_html(result.report, options.html or settings.data_dir / "aladia-report.html")
    return result
