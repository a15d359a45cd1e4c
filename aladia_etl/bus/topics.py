"""`aladia topics`: partitions, offsets and consumer-group lag."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from aladia_etl.bus.kafka import admin, closing, consumer
from aladia_etl.settings import Settings

INTERNAL_PREFIXES = ("__", "_aladia_connect")


@dataclass
class PartitionInfo:
    partition: int
    begin: int
    end: int

    @property
    def messages(self) -> int:
        return self.end - self.begin


@dataclass
class TopicInfo:
    name: str
    partitions: list[PartitionInfo] = field(default_factory=list)
    internal: bool = False

    @property
    def end_offsets(self) -> dict[int, int]:
        return {p.partition: p.end for p in self.partitions}

    @property
    def messages(self) -> int:
        return sum(p.messages for p in self.partitions)

    def as_dict(self) -> dict:
        return {**asdict(self), "messages": self.messages}


@dataclass
class GroupLag:
    group: str
    topic: str
    committed: dict[int, int]
    end: dict[int, int]

    @property
    def lag(self) -> int:
        return sum(max(0, end - self.committed.get(p, 0)) for p, end in self.end.items())

    def as_dict(self) -> dict:
        return {**asdict(self), "lag": self.lag}


def describe_topics(
    settings: Settings, include_internal: bool = False, names: list[str] | None = None
) -> list[TopicInfo]:
    from kafka import TopicPartition

    with closing(consumer(settings)) as c:
        topics = sorted(names if names is not None else c.topics())
        out = []
        for name in topics:
            internal = name.startswith(INTERNAL_PREFIXES)
            if internal and not include_internal:
                continue
            partitions = sorted(c.partitions_for_topic(name) or [])
            tps = [TopicPartition(name, p) for p in partitions]
            begin = c.beginning_offsets(tps) if tps else {}
            end = c.end_offsets(tps) if tps else {}
            out.append(TopicInfo(name, [PartitionInfo(tp.partition, begin[tp], end[tp]) for tp in tps], internal))
    return out


def group_lags(settings: Settings, topics: list[TopicInfo]) -> list[GroupLag]:
    ends = {t.name: t.end_offsets for t in topics}
    lags: list[GroupLag] = []
    with closing(admin(settings)) as a:
        groups = [g["group_id"] for g in a.list_groups() if g.get("protocol_type") in ("consumer", "")]
        for group in sorted(groups):
            offsets = a.list_group_offsets({group: None}).get(group, {})
            per_topic: dict[str, dict[int, int]] = {}
            for tp, meta in offsets.items():
                if tp.topic in ends and meta.offset >= 0:
                    per_topic.setdefault(tp.topic, {})[tp.partition] = meta.offset
            for topic, committed in sorted(per_topic.items()):
                lags.append(GroupLag(group, topic, committed, ends[topic]))
    return lags


def total_records(settings: Settings, topics: list[str]) -> int:
    """Sum of the end offsets of the topics' partitions (0 for a topic that does not exist yet)."""
    from kafka import TopicPartition

    with closing(consumer(settings, group_id=None)) as c:
        known = c.topics()
        tps = [TopicPartition(t, p) for t in topics if t in known for p in (c.partitions_for_topic(t) or [])]
        return sum(c.end_offsets(tps).values()) if tps else 0


def wait_for_records(settings: Settings, topics: list[str], at_least: int, timeout: float = 120) -> int:
    """Wait until the topics hold `at_least` records in all (e.g. until Debezium has published what a
    simulation changed: one record per change plus a tombstone per delete)."""
    import time

    from aladia_etl.errors import AladiaError

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
