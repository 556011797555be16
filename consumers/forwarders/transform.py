"""What the Kafka forwarder writes for an event: the original value, a projection, or a user function."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from consumers.forwarders.exceptions import ForwarderSettingsError, TransformError
from consumers.forwarders.fields import check_path, resolve
from consumers.runtime import Incoming
from schemas import Event

UserTransform = Callable[[Event], Mapping[str, Any] | None]
"""Event → JSON object to send, or None to drop the event."""

Transform = Callable[[Incoming], bytes | None]
"""Record → value to send, or None to drop it."""


def identity(record: Incoming) -> bytes:
    """The original value, byte for byte."""
    return record.value


def projection(paths: Sequence[str]) -> Callable[[Incoming], bytes]:
    """Only these fields (`type`, `data.reason`, ...), nested as in the envelope."""
    parsed = [check_path(p) for p in paths]

    def project(record: Incoming) -> bytes:
        out: dict[str, Any] = {}
        for parts in parsed:
            target = out
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = resolve(record.event, parts)
        return orjson.dumps(out)

    return project


def load_user_transform(spec: str) -> UserTransform:
    """Import `module:function`; `ForwarderSettingsError` when it is not there or not callable."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ForwarderSettingsError(f"transform {spec!r} is not module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ForwarderSettingsError(f"cannot import {module_name!r} for the transform: {exc}") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ForwarderSettingsError(f"{spec!r} is not a function (LKBUS_FORWARD_KAFKA__TRANSFORM)")
    user: UserTransform = function
    return user


def user_transform(function: UserTransform) -> Transform:
    """Wrap a user function: its errors and non-object results become `TransformError` (dead-lettered)."""
    label = getattr(function, "__qualname__", type(function).__name__)

    def apply(record: Incoming) -> bytes | None:
        try:
            result = function(record.event)
        except Exception as exc:
            raise TransformError(f"transform {label} failed: {type(exc).__name__}") from exc
        if result is None:
            return None
        if not isinstance(result, Mapping):
            raise TransformError(f"transform {label} returned {type(result).__name__}, not a dict or None")
        try:
            return orjson.dumps(dict(result))
        except TypeError as exc:
            raise TransformError(f"transform {label} returned a dict that is not JSON") from exc

    return apply
