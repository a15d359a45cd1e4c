"""`aladia status`: the local stack's processes and the health of every component."""

from __future__ import annotations

from typing import Any

from aladia_etl.settings import Settings


def collect_status(settings: Settings) -> dict[str, Any]:
    from aladia_etl.stack.local import LocalStack

    components = LocalStack(settings).status()
    return {
        "healthy": all(c.healthy for c in components),
        "components": [c.as_dict() for c in components],
    }
