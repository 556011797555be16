"""The fast path of ``decode``: validate the record bytes in one pass, chosen by headers.

``codec.decode`` reads the value with ``orjson.loads``, checks the headers against the
body, then validates the dict. This module does the same work in one step for the
common case, a record of the current version of its type with CloudEvents headers:
the ``ce_type`` and ``ce_schemaversion`` headers pick the event class, and pydantic
parses and validates the bytes at once (``validate_json``).

It never raises and never decides a failure: it returns the event only when the
reference path would return an equal one, and None otherwise (the caller then runs
the reference path, which raises the precise ``DecodeError``). To guarantee that,
each fast validator is the event class's own core schema with these changes, which
make it reject what pydantic's JSON parser accepts but ``orjson.loads`` does not:

* floats must be finite (``NaN``, ``Infinity`` and overflowing literals are not JSON
  for orjson);
* integers must fit 64 bits (orjson reads bigger ones as floats);
* free-form values (``Any``) are checked for both;
* the envelope ``time`` must be the canonical ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` text, so
  that comparing the parsed instant with the ``ce_time`` header is exactly the
  reference check (same text, or same instant read by ``datetime.fromisoformat``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pydantic_core import SchemaValidator, core_schema

from schemas.envelope import (
    CONTENT_TYPE,
    HEADER_CONTENT_TYPE,
    HEADER_ID,
    HEADER_SOURCE,
    HEADER_SPECVERSION,
    HEADER_TIME,
    HEADER_TYPE,
    SCHEMA_VERSION_HEADER,
    SPEC_VERSION,
    Event,
)
from schemas.registry import Registry

_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1
_CANONICAL_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$"
_SPEC_BYTES = SPEC_VERSION.encode()
_CONTENT_TYPE_BYTES = CONTENT_TYPE.encode()
_MISSING: Any = object()
_fromisoformat = datetime.fromisoformat


def _json_safe(value: Any) -> Any:
    """Reject what orjson would not have read as it is (non-finite floats, big ints)."""
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            raise ValueError("not a finite number")
    elif kind is int:
        if not _INT64_MIN <= value <= _UINT64_MAX:
            raise ValueError("integer out of 64-bit range")
    elif kind is dict:
        for item in value.values():
            _json_safe(item)
    elif kind is list:
        for item in value:
            _json_safe(item)
    return value


def _tighten(node: Any) -> Any:
    """Return a copy of a core schema with the JSON-parser differences closed."""
    if isinstance(node, list):
        return [_tighten(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _tighten(value) for key, value in node.items()}
    kind = out.get("type")
    if kind == "float":
        out["allow_inf_nan"] = False
    elif kind == "int":
        out["ge"] = max(out.get("ge", _INT64_MIN), _INT64_MIN)
        out["le"] = min(out.get("le", _UINT64_MAX), _UINT64_MAX)
    elif kind == "any":
        return core_schema.no_info_after_validator_function(_json_safe, out)
    return out


def _find_model(node: Any, cls: type) -> dict[str, Any] | None:
    if isinstance(node, list):
        for item in node:
            found = _find_model(item, cls)
            if found is not None:
                return found
        return None
    if not isinstance(node, dict):
        return None
    if node.get("type") == "model" and node.get("cls") is cls:
        return node
    for value in node.values():
        found = _find_model(value, cls)
        if found is not None:
            return found
    return None


def fast_validator(event_class: type[Event]) -> SchemaValidator:
    """The JSON validator of ``event_class`` for the fast path (see the module doc)."""
    schema = _tighten(copy.deepcopy(event_class.__pydantic_core_schema__))
    model = _find_model(schema, event_class)
    if model is None:  # pragma: no cover - every event class is a model
        raise TypeError(f"{event_class.__name__} has no model schema")
    fields = model["schema"]["fields"]
    time_field = fields["time"]
    time_field["schema"] = core_schema.chain_schema(
        [core_schema.str_schema(pattern=_CANONICAL_TIME), time_field["schema"]]
    )
    return SchemaValidator(schema, model.get("config"))


def _validator_for(registry: Registry, type_raw: Any, version_raw: Any) -> SchemaValidator | None:
    """The fast validator for these header values, built once per registered type."""
    cache = registry.fast_decoders
    key = (type_raw, version_raw)
    validator = cache.get(key)
    if validator is not None or type(type_raw) is not bytes or type(version_raw) is not bytes:
        return validator
    try:
        type_name = type_raw.decode("utf-8")
        version = version_raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    spec = registry.get(type_name)
    if spec is None or str(spec.current.version) != version:
        return None
    validator = fast_validator(spec.current.event_class)
    cache[key] = validator
    return validator


def decode_fast(value: Any, headers: Sequence[tuple[str, bytes]], registry: Registry) -> Event | None:
    """The event ``codec.decode`` would return for this record, or None to let it decide."""
    if type(headers) is not list and type(headers) is not tuple:
        return None  # an iterator would be consumed here and not seen by the reference path
    try:
        by_name = dict(headers)
        if len(by_name) != len(headers):
            return None
        validator = _validator_for(
            registry, by_name.get(HEADER_TYPE), by_name.get(SCHEMA_VERSION_HEADER)
        )
        if validator is None:
            return None
        event: Event = validator.validate_json(value)
    except (ValidationError, TypeError, ValueError):
        return None
    raw = by_name.get(HEADER_ID, _MISSING)
    if raw is not _MISSING and raw != event.id.encode():
        return None
    raw = by_name.get(HEADER_SOURCE, _MISSING)
    if raw is not _MISSING and raw != event.source.encode():
        return None
    raw = by_name.get(HEADER_SPECVERSION, _MISSING)
    if raw is not _MISSING and raw != _SPEC_BYTES:
        return None
    raw = by_name.get(HEADER_CONTENT_TYPE, _MISSING)
    if raw is not _MISSING and raw != _CONTENT_TYPE_BYTES:
        return None
    raw = by_name.get(HEADER_TIME, _MISSING)
    if raw is not _MISSING:
        try:
            if type(raw) is not bytes or _fromisoformat(raw.decode("utf-8")) != event.time:
                return None
        except ValueError:  # UnicodeDecodeError included
            return None
    return event
