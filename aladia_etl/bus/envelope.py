"""A readable summary of a Debezium change event (used by `aladia consume`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

OP_NAMES = {"c": "create", "u": "update", "d": "delete", "r": "read (snapshot)", "t": "truncate", "m": "message"}


def summarize(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> dict[str, Any]:
    out: dict[str, Any] = {"topic": topic, "partition": partition, "offset": offset, "key": _decode(key)}
    if value is None:
        out["kind"] = "tombstone"
        return out
    payload = _decode(value)
    if not isinstance(payload, dict) or "op" not in payload:
        out["kind"] = "message"
        out["value"] = payload
        return out
    source = payload.get("source") or {}
    ts_ms = source.get("ts_ms")
    out.update(
        {
            "kind": "change",
            "op": payload.get("op"),
            "table": source.get("table"),
            "lsn": source.get("lsn"),
            "tx_id": source.get("txId"),
            "commit_time": datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat() if ts_ms else None,
            "before": payload.get("before"),
            "after": payload.get("after"),
        }
    )
    return out


def _decode(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", errors="replace")


def describe(summary: dict[str, Any]) -> str:
    """One or a few lines for the terminal."""
    head = f"{summary['topic']}[{summary['partition']}]@{summary['offset']}"
    if summary["kind"] == "tombstone":
        return f"{head}  tombstone  key={json.dumps(summary['key'])}"
    if summary["kind"] == "message":
        return f"{head}  {json.dumps(summary['value'], default=str)}"
    op = OP_NAMES.get(summary["op"], summary["op"])
    lines = [f"{head}  {op} {summary['table']}  lsn={summary['lsn']} commit={summary['commit_time']}"]
    if summary["before"] is not None:
        lines.append(f"    before: {json.dumps(summary['before'], default=str)}")
    if summary["after"] is not None:
        lines.append(f"    after:  {json.dumps(summary['after'], default=str)}")
    return "\n".join(lines)
