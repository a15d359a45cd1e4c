"""The CDC topics must keep every record until it is applied: their cleanup policy must be `delete` (retention by
time or size, which the gap check sees as a moving log start). Compaction removes older records of a key — among
them deletes and updates that were not applied yet — without moving the log start, so no check could notice."""

from __future__ import annotations

from collections.abc import Iterable

from aladia_etl.core.errors import ConfigError
from aladia_etl.core.settings import Settings
from aladia_etl.stack.connections import admin, closing

REQUIRED = "delete"


def cleanup_policies(settings: Settings, topics: Iterable[str]) -> dict[str, str]:
    """Each existing topic's effective `cleanup.policy` (topics that do not exist are left out)."""
    from kafka.admin import ConfigResource, ConfigResourceType

    with closing(admin(settings)) as client:
        existing = set(client.list_topics())
        wanted = [t for t in topics if t in existing]
        if not wanted:
            return {}
        answer = client.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t, ["cleanup.policy"]) for t in wanted], config_filter="all"
        )
    found: dict[str, str] = {}
    for resources in answer.values():
        for name, configs in resources.items():
            entry = configs.get("cleanup.policy")
            value = entry.get("value") if isinstance(entry, dict) else entry
            if value is not None:
                found[name] = str(value)
    return found


def compacted(policies: dict[str, str]) -> dict[str, str]:
    return {t: p for t, p in policies.items() if p.replace(" ", "") != REQUIRED}


def check_cleanup_policies(settings: Settings, topics: Iterable[str]) -> None:
    """Refuse CDC topics that are compacted (one line naming the topic and the command that fixes it)."""
    bad = compacted(cleanup_policies(settings, topics))
    if bad:
        topic, policy = sorted(bad.items())[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ConfigError(
            f"the CDC topic {topic}{more} has cleanup.policy={policy}: compaction would delete changes before they "
            "are applied, unnoticed",
            f"set it to delete: kafka-configs.sh --bootstrap-server {settings.kafka.bootstrap_servers} --alter "
            f"--entity-type topics --entity-name {topic} --add-config cleanup.policy=delete",
        )
