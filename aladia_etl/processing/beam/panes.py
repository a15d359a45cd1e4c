"""Applying the streaming pipeline's panes: each pane's chunks go through the one processing path
(`processing.bundle.stage`) and are applied in one warehouse transaction with their offsets.

Prism may hand two panes of the same key to two threads at once, and out of order. So the step serialises itself
(one lock per stream) and orders by offsets: per partition it applies only the chunks that continue exactly where
the warehouse's offsets stand, keeps a chunk that arrives ahead of a gap until the chunks before it arrive, and
drops a chunk the warehouse already has (a replay after a restart). Offsets therefore never pass a record that is
not applied, and a replayed pane changes nothing.
"""

from __future__ import annotations

import time

import apache_beam as beam

from aladia_etl.processing.beam import shared


def ready_chunks(state: shared.StreamShared, chunks: list[dict]) -> list[dict]:
    """Add a pane's chunks to the reorder buffer; take out, in offset order, every chunk that continues a
    partition's applied position. (Called with the stream's lock held.)"""
    for chunk in chunks:
        key = (chunk["topic"], chunk["partition"])
        if chunk["end"] <= state.next_offsets.get(key, 0):
            continue  # already applied
        state.waiting.setdefault(key, {})[chunk["start"]] = chunk
    ready = []
    for key, waiting in state.waiting.items():
        position = state.next_offsets.get(key, 0)
        for start in sorted(s for s in waiting if s < position):  # overlapping what is applied: re-read, drop
            del waiting[start]
        while position in waiting:
            chunk = waiting.pop(position)
            ready.append(chunk)
            position = chunk["end"]
    return ready


class ApplyPanes(beam.DoFn):
    """(key, [chunk, …]) → the contiguous chunks staged and applied in one transaction."""

    def __init__(
        self,
        stream_key: str,
        engine: str,
        stream_id: str,
        conninfo: dict,
        dlq: dict | None,
        sinks: list[dict] | None = None,
    ) -> None:
        self.stream_key = stream_key
        self.engine = engine
        self.stream_id = stream_id
        self.conninfo = conninfo
        self.dlq = dlq
        self.sinks = sinks  # the pipeline's sinks as plain data (None: the built-in pipeline)

    def process(self, keyed):
        from aladia_etl.processing.bundle import stage
        from aladia_etl.stack.connections import connect_conninfo
        from aladia_etl.warehouse import loader
        from aladia_etl.warehouse.sinks import Sink

        _, chunks = keyed
        state = shared.get(self.stream_key)
        with state.lock:
            if state.error is not None:  # the stream is failing: apply nothing more
                return
            ready = ready_chunks(state, list(chunks))
            if not ready:
                return
            state.applying += 1
            started = time.monotonic()
            batch_id = state.next_batch_id
            token = loader.batch_token(self.engine, self.stream_id, batch_id)
            records = [r for chunk in ready for r in chunk["records"]]
            covered = [(c["topic"], c["partition"], c["start"], c["end"]) for c in ready]
            expect: dict[tuple[str, int], int] = {}
            ends: dict[tuple[str, int], int] = {}
            for topic, partition, start, end in covered:  # chunks are in offset order
                expect.setdefault((topic, partition), start)
                ends[(topic, partition)] = end

            def apply():
                with connect_conninfo(self.conninfo, autocommit=True) as conn:
                    if loader.is_applied(conn, self.engine, self.stream_id, batch_id):
                        # an earlier attempt committed and its answer was lost (a warehouse blip): done, if the
                        # warehouse's offsets are where that attempt left them
                        if all(loader.applied_offsets(conn, self.engine).get(k) == e for k, e in ends.items()):
                            return loader.ApplyResult(applied=True, stats=loader.StageStats(records=len(records)))
                        return loader.ApplyResult(applied=False, stats=loader.StageStats())
                    loader.clear_stage(conn, token)
                    stats = stage(self.conninfo, token, records, self.dlq, covered=covered, sinks=self.sinks)
                    return loader.apply_batch(
                        conn,
                        self.engine,
                        self.stream_id,
                        batch_id,
                        started,
                        expect=expect,
                        staged_records=stats.records,
                        sinks=None if self.sinks is None else tuple(Sink.from_dict(s) for s in self.sinks),
                    )

            try:
                result = state.apply_outage.retry(apply, state.abort)
                if not result.applied:
                    raise loader.PositionMoved(
                        f"batch {batch_id} of the {self.engine} stream {self.stream_id!r} is already in the "
                        "warehouse: another stream of this name applied it; nothing of this pane was applied",
                        "run one stream per name, then rerun: it resumes from the warehouse's offsets",
                    )
            except BaseException as exc:  # noqa: BLE001 - recorded: the engine raises it
                shared.fail(self.stream_key, exc)
                # nothing of these chunks is applied: they stay for a restart (offsets did not move)
                return
            finally:
                state.applying -= 1
            state.next_batch_id += 1
            for chunk in ready:
                state.next_offsets[(chunk["topic"], chunk["partition"])] = chunk["end"]
            state.progress.record_batch(result, time.monotonic() - started)
