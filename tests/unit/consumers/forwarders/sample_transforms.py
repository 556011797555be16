"""Transforms the Kafka forwarder tests load by `module:function`."""

from __future__ import annotations

from typing import Any

from schemas import Event


def tag(event: Event) -> dict[str, Any] | None:
    """Drop session starts; keep id, type and seq of the rest, tagged."""
    if event.type == "lkbus.session.started":
        return None
    return {"id": event.id, "type": event.type, "seq": event.seq, "forwarded": True}


def broken(event: Event) -> dict[str, Any]:
    raise RuntimeError("boom with a secret inside")


def not_a_dict(event: Event) -> Any:
    return [1, 2]


def not_json(event: Event) -> dict[str, Any]:
    return {"x": object()}


NOT_CALLABLE = 3
