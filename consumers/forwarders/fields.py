"""Read envelope fields and payload paths (`agent_name`, `data.reason`) off an event, as JSON values.

Shared by the filter expressions and the Kafka forwarder's projection. Only declared fields
are reachable: a path can never reach a method or a private attribute of a model.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel

from schemas import Event

ENVELOPE_FIELDS: frozenset[str] = frozenset(name for name in Event.model_fields if name != "data")
"""Fields a path may start with, besides `data`."""

_PART = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
MAX_PATH_PARTS = 8


def check_path(path: str) -> tuple[str, ...]:
    """The parts of a valid path; ValueError naming what is wrong otherwise."""
    parts = tuple(path.split("."))
    if len(parts) > MAX_PATH_PARTS:
        raise ValueError(f"field path has more than {MAX_PATH_PARTS} parts")
    for part in parts:
        if not _PART.match(part):
            raise ValueError(f"{part[:40]!r} is not a field name (lowercase letters, digits, _)")
    head = parts[0]
    if head == "data":
        return parts
    if head not in ENVELOPE_FIELDS:
        known = ", ".join(sorted(ENVELOPE_FIELDS | {"data"}))
        raise ValueError(f"unknown field {head!r} (known: {known})")
    if len(parts) > 1:
        raise ValueError(f"envelope field {head!r} has no sub-fields")
    return parts


def resolve(event: Event, parts: tuple[str, ...]) -> Any:
    """The JSON value at `parts` (from `check_path`); None where the path leads nowhere."""
    head = parts[0]
    if head != "data":
        return to_json(getattr(event, head))
    value: Any = event.data
    for part in parts[1:]:
        value = _child(value, part)
        if value is None:
            return None
    return to_json(value)


def _child(value: Any, part: str) -> Any:
    if isinstance(value, BaseModel):
        if part in type(value).model_fields:
            return getattr(value, part)
        extra = value.model_extra
        return extra.get(part) if extra else None
    if isinstance(value, dict):
        return value.get(part)
    return None


def to_json(value: Any) -> Any:
    """Models, enums and times as the JSON values they are on the wire."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return format_rfc3339(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return str(value)


def format_rfc3339(value: datetime) -> str:
    """A UTC timestamp as RFC 3339 with a `Z` (`2024-05-01T12:00:00.123456Z`)."""
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return utc.isoformat().replace("+00:00", "Z")
