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
* unknown fields are refused instead of ignored (they are not validated, so they could
  hold such numbers): records of a newer minor version take the reference path;
* the envelope ``time`` must be the canonical ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` text, so
  that comparing the parsed instant with the ``ce_time`` header is exactly the
  reference check (same text, or same instant read by ``datetime.fromisoformat``).
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
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
_SPEC_BYTES = SPEC_VERSION.encode()
_CONTENT_TYPE_BYTES = CONTENT_TYPE.encode()
_MISSING: Any = object()


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
    if not isinstance(kind, str):  # a "type" field in a fields mapping, not a schema node
        return out
    if kind == "float":
        out["allow_inf_nan"] = False
    elif kind == "int":
        out["ge"] = max(out.get("ge", _INT64_MIN), _INT64_MIN)
        out["le"] = min(out.get("le", _UINT64_MAX), _UINT64_MAX)
    elif kind == "any":
        return core_schema.no_info_after_validator_function(_json_safe, out)
    elif kind in {"model-fields", "typed-dict"}:
        out["extra_behavior"] = "forbid"
    elif kind == "model":
        out["config"] = {**out.get("config", {}), "extra_fields_behavior": "forbid"}
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


def _model_classes(node: Any, out: set[type]) -> set[type]:
    if isinstance(node, list):
        for item in node:
            _model_classes(item, out)
    elif isinstance(node, dict):
        if node.get("type") == "model" and isinstance(node.get("cls"), type):
            out.add(node["cls"])
        for value in node.values():
            _model_classes(value, out)
    return out


_build_lock = threading.Lock()


def _schema_validator(schema: Any, config: Any) -> SchemaValidator:
    """Build ``schema`` as written, nested models included.

    pydantic-core reuses a model class's own (prebuilt) validator for every ``model``
    node whose class is complete, which would drop the tightened nodes inside it; the
    classes are marked incomplete only while this validator is built.
    """
    classes = [cls for cls in _model_classes(schema, set()) if cls.__dict__.get("__pydantic_complete__")]
    with _build_lock:
        for cls in classes:
            setattr(cls, "__pydantic_complete__", False)  # noqa: B010
        try:
            return SchemaValidator(schema, config)
        finally:
            for cls in classes:
                setattr(cls, "__pydantic_complete__", True)  # noqa: B010


@dataclass(frozen=True, slots=True)
class FastDecoder:
    """The fast validator of one event class and the validator of its ``time`` text."""

    validator: SchemaValidator
    time_validator: SchemaValidator


def fast_decoder(event_class: type[Event]) -> FastDecoder:
    """The fast-path validators of ``event_class`` (see the module doc)."""
    schema = _tighten(copy.deepcopy(event_class.__pydantic_core_schema__))
    model = _find_model(schema, event_class)
    if model is None:  # pragma: no cover - every event class is a model
        raise TypeError(f"{event_class.__name__} has no model schema")
    config = model.get("config")
    time_field = model["schema"]["fields"]["time"]
    time_validator = _schema_validator(time_field["schema"], config)
    time_field["schema"] = core_schema.str_schema()
    return FastDecoder(_schema_validator(schema, config), time_validator)


def _decoder_for(registry: Registry, type_raw: Any, version_raw: Any) -> FastDecoder | None:
    """The fast decoder for these header values, built once per registered type."""
    if type(type_raw) is not bytes or type(version_raw) is not bytes:
        return None
    try:
        type_name = type_raw.decode("utf-8")
        version = version_raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    spec = registry.get(type_name)
    if spec is None or str(spec.current.version) != version:
        return None
    decoder = fast_decoder(spec.current.event_class)
    registry.fast_decoders[(type_raw, version_raw)] = decoder
    return decoder


_ORDER = (
    HEADER_SPECVERSION,
    HEADER_ID,
    HEADER_TYPE,
    HEADER_SOURCE,
    HEADER_TIME,
    HEADER_CONTENT_TYPE,
    SCHEMA_VERSION_HEADER,
)
"""The headers ``encode_*`` writes, in its order: the case checked without a dict."""


def _by_name(headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> tuple[Any, ...] | None:
    """The seven header values in ``_ORDER`` (``_MISSING`` when absent), or None to bail."""
    by_name = dict(headers)
    if len(by_name) != len(headers):
        return None
    return tuple(by_name.get(name, _MISSING) for name in _ORDER)


def decode_fast(value: Any, headers: Sequence[tuple[str, bytes]], registry: Registry) -> Event | None:
    """The event ``codec.decode`` would return for this record, or None to let it decide."""
    kind = type(headers)
    if kind is not list and kind is not tuple:
        return None  # an iterator would be consumed here and not seen by the reference path
    try:
        try:
            pairs: Any = headers
            (
                (n0, spec_raw),
                (n1, id_raw),
                (n2, type_raw),
                (n3, source_raw),
                (n4, time_raw),
                (n5, ctype_raw),
                (n6, version_raw),
            ) = pairs
            if (n0, n1, n2, n3, n4, n5, n6) != _ORDER:
                raise ValueError
        except ValueError:
            values = _by_name(headers)  # type: ignore[arg-type]
            if values is None:
                return None
            spec_raw, id_raw, type_raw, source_raw, time_raw, ctype_raw, version_raw = values
        decoder = registry.fast_decoders.get((type_raw, version_raw))
    except (TypeError, ValueError):
        return None
    if decoder is None:
        decoder = _decoder_for(registry, type_raw, version_raw)
        if decoder is None:
            return None
    try:
        event: Event = decoder.validator.validate_json(value)
        fields = event.__dict__
        time_text = fields["time"]
        if time_raw is not _MISSING and time_raw != time_text.encode():
            return None  # the reference path also accepts the same instant written otherwise
        fields["time"] = decoder.time_validator.validate_python(time_text)
    except (ValidationError, TypeError, ValueError):
        return None
    if id_raw is not _MISSING and id_raw != event.id.encode():
        return None
    if source_raw is not _MISSING and source_raw != event.source.encode():
        return None
    if spec_raw is not _MISSING and spec_raw != _SPEC_BYTES:
        return None
    if ctype_raw is not _MISSING and ctype_raw != _CONTENT_TYPE_BYTES:
        return None
    return event
