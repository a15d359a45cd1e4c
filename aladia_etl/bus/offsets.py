"""Where the topics stand: per-partition log start and end offsets, and lag against applied positions.

`partition_offsets` is the one place that lists partitions and reads their offsets; `lag` is the one definition
of lag (records that exist in Kafka and are not applied yet), used by the stream loop, `aladia topics --groups`,
the report and the bench.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aladia_etl.bus.topics import is_internal
from aladia_etl.core.errors import AladiaError
from aladia_etl.core.settings import Settings
from aladia_etl.stack.connections import closing, consumer

TopicPartitionKey = tuple[str, int]


@dataclass(frozen=True)
class PartitionOffsets:
    topic: str
    partition: int
    begin: int  # log start offset (retention may have deleted what came before)
    end: int  # high-water mark: the offset the next record will get
    topic_id: str | None = None  # Kafka's id of the topic (a topic deleted and created again gets another one)

    @property
    def key(self) -> TopicPartitionKey:
        return (self.topic, self.partition)

    @property
    def messages(self) -> int:
        return self.end - self.begin


def partition_offsets(client, topics: Iterable[str]) -> list[PartitionOffsets]:
    """Offsets of every partition of the given topics that exist (a missing topic has no partitions yet).
    `client` is a KafkaConsumer."""
    from kafka import TopicPartition

    # partitions_for_topic answers from the client's cached metadata for a known topic (topics() would refresh
    # the whole cluster's metadata: ~0.1 s on every call).
    tps = [TopicPartition(t, p) for t in topics for p in sorted(client.partitions_for_topic(t) or [])]
    if not tps:
        return []
    begins = client.beginning_offsets(tps)
    ends = client.end_offsets(tps)
    ids = {t: topic_id(client, t) for t in {tp.topic for tp in tps}}
    return [PartitionOffsets(tp.topic, tp.partition, begins[tp], ends[tp], ids[tp.topic]) for tp in tps]


def topic_id(client, topic: str) -> str | None:
    """The topic's id as the client's metadata knows it (brokers before Kafka 2.8 have none: None)."""
    cluster = getattr(getattr(client, "_client", None), "cluster", None)
    found = cluster.topic_id(topic) if cluster is not None and hasattr(cluster, "topic_id") else None
    return None if found is None or str(found) == "00000000-0000-0000-0000-000000000000" else str(found)


def read_offsets(settings: Settings, topics: Iterable[str], timeout_ms: int = 5000) -> list[PartitionOffsets]:
    with closing(consumer(settings, timeout_ms=timeout_ms, group_id=None)) as c:
        return partition_offsets(c, list(topics))


def partition_counts(settings: Settings, topics: Iterable[str]) -> dict[str, int]:
    """How many partitions each of the given topics has (topics that do not exist are left out)."""
    with closing(consumer(settings, timeout_ms=5000, group_id=None)) as c:
        return {t: len(found) for t in topics if (found := c.partitions_for_topic(t))}


def lag(offsets: Iterable[PartitionOffsets], applied: Mapping[TopicPartitionKey, int]) -> int:
    """Records still in Kafka that are not applied yet: Σ end − max(applied, log start)."""
    return sum(max(0, o.end - max(applied.get(o.key, 0), o.begin)) for o in offsets)


@dataclass(frozen=True)
class Gap:
    """A partition whose applied position no longer exists in Kafka: the position jumps from `from_offset` to
    `resume_at`. `deleted`: records [from_offset, resume_at) were deleted (retention) before they were applied;
    `recreated`: the applied position is past the log end (the topic was recreated or truncated); `new-topic`: the
    topic's id is not the one the position was applied from (deleted and created again, even if it has grown past
    the old position since)."""

    topic: str
    partition: int
    from_offset: int
    resume_at: int
    kind: str
    log_end: int
    old_id: str | None = None
    new_id: str | None = None

    def describe(self) -> str:
        where = f"{self.topic}[{self.partition}]"
        if self.kind == "new-topic":
            return (
                f"{self.topic} was deleted and created again (topic id {self.old_id} is now {self.new_id}): offsets "
                f"up to {self.from_offset} of {where} were applied from the old topic, the new one starts at "
                f"{self.resume_at}"
            )
        if self.kind == "deleted":
            return (
                f"offsets {self.from_offset}..{self.resume_at - 1} of {where} were deleted from Kafka before they were "
                f"applied (the log now starts at {self.resume_at})"
            )
        return (
            f"{where} ends at offset {self.log_end} but offsets up to {self.from_offset} were applied: the topic was "
            "recreated or truncated"
        )


def gaps(
    offsets: Iterable[PartitionOffsets],
    applied: Mapping[TopicPartitionKey, int],
    known_ids: Mapping[str, str] | None = None,
    held: Mapping[TopicPartitionKey, int] | None = None,
) -> list[Gap]:
    """Partitions where resuming from the applied position would skip records in silence. `known_ids`: the topic
    id each topic had when its offsets were applied; `held`: positions reached before a `--from-beginning` rewind
    (records before them were applied, so their deletion loses nothing)."""
    found = []
    for o in offsets:
        position = applied.get(o.key, 0)
        reached = max(position, (held or {}).get(o.key, 0))
        old_id = (known_ids or {}).get(o.topic)
        if old_id and o.topic_id and old_id != o.topic_id:
            if o.key in applied:
                found.append(Gap(o.topic, o.partition, position, o.begin, "new-topic", o.end, old_id, o.topic_id))
        elif reached < o.begin:
            found.append(Gap(o.topic, o.partition, reached, o.begin, "deleted", o.end))
        elif position > o.end:
            found.append(Gap(o.topic, o.partition, position, o.begin, "recreated", o.end))
    return found


def total_records(settings: Settings, topics: list[str]) -> int:
    """Sum of the end offsets of the topics' partitions (0 for a topic that does not exist yet)."""
    return sum(o.end for o in read_offsets(settings, topics))


def wait_for_records(settings: Settings, topics: list[str], at_least: int, timeout: float = 120) -> int:
    """Wait until the topics hold `at_least` records in all (e.g. until Debezium has published what a
    simulation changed: one record per change plus a tombstone per delete)."""
    deadline = time.monotonic() + timeout
    while True:
        total = total_records(settings, topics)
        if total >= at_least:
            return total
        if time.monotonic() > deadline:
            raise AladiaError(
                f"the CDC topics hold {total} records after {timeout:.0f} s, expected {at_least}",
                "check the connector with 'aladia cdc status'",
            )
        time.sleep(0.2)


# -- `aladia topics` -----------------------------------------------------------------------------------------
@dataclass
class TopicInfo:
    name: str
    partitions: list[PartitionOffsets] = field(default_factory=list)
    internal: bool = False

    @property
    def end_offsets(self) -> dict[int, int]:
        return {p.partition: p.end for p in self.partitions}

    @property
    def messages(self) -> int:
        return sum(p.messages for p in self.partitions)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "partitions": [{"partition": p.partition, "begin": p.begin, "end": p.end} for p in self.partitions],
            "internal": self.internal,
            "messages": self.messages,
        }


@dataclass
class GroupLag:
    group: str
    topic: str
    committed: dict[int, int]
    partitions: list[PartitionOffsets]

    @property
    def lag(self) -> int:
        return lag(self.partitions, {(self.topic, p): o for p, o in self.committed.items()})

    def as_dict(self) -> dict:
        return {
            "group": self.group,
            "topic": self.topic,
            "committed": self.committed,
            "end": {p.partition: p.end for p in self.partitions},
            "lag": self.lag,
        }


def describe_topics(
    settings: Settings, include_internal: bool = False, names: list[str] | None = None
) -> list[TopicInfo]:
    with closing(consumer(settings, group_id=None)) as c:
        topics = sorted(names if names is not None else c.topics())
        wanted = [t for t in topics if include_internal or not is_internal(t)]
        by_topic: dict[str, list[PartitionOffsets]] = {t: [] for t in wanted}
        for o in partition_offsets(c, wanted):
            by_topic[o.topic].append(o)
    return [TopicInfo(name, parts, is_internal(name)) for name, parts in by_topic.items()]


def group_lags(settings: Settings, topics: list[TopicInfo]) -> list[GroupLag]:
    from aladia_etl.stack.connections import admin

    by_name = {t.name: t for t in topics}
    lags: list[GroupLag] = []
    with closing(admin(settings)) as a:
        groups = [g["group_id"] for g in a.list_groups() if g.get("protocol_type") in ("consumer", "")]
        for group in sorted(groups):
            offsets = a.list_group_offsets({group: None}).get(group, {})
            per_topic: dict[str, dict[int, int]] = {}
            for tp, meta in offsets.items():
                if tp.topic in by_name and meta.offset >= 0:
                    per_topic.setdefault(tp.topic, {})[tp.partition] = meta.offset
            for topic, committed in sorted(per_topic.items()):
                lags.append(GroupLag(group, topic, committed, by_name[topic].partitions))
    return lags


def commit_group_offsets(client, applied: Mapping[TopicPartitionKey, int]) -> None:
    """Commit positions to the client's consumer group (so `aladia topics --groups` shows an engine's progress)."""
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata

    client.commit({TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in applied.items()})
