"""Find a consumer by name (the built-in ones) or by `module:attribute` (a plugin)."""

from __future__ import annotations

import importlib
from typing import Any

from consumers.runtime.consumer import EventConsumer
from consumers.runtime.errors import UnknownConsumerError

BUILTIN: dict[str, str] = {
    "inactivity": "consumers.inactivity.service:InactivityConsumer",
    "analytics": "consumers.analytics.service:AnalyticsConsumer",
}


def load_consumer(name: str) -> EventConsumer:
    """A new instance of the consumer `name`: a built-in name, or `package.module:attribute`."""
    target = BUILTIN.get(name, name)
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise UnknownConsumerError(
            f"no consumer named {name!r}: use one of {', '.join(sorted(BUILTIN))} or give module:attribute"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownConsumerError(f"cannot import {module_name!r} for consumer {name!r}: {exc}") from None
    found: Any = getattr(module, attribute, None)
    if found is None:
        raise UnknownConsumerError(f"{module_name!r} has no attribute {attribute!r}")
    instance = found() if callable(found) and not isinstance(found, EventConsumer) else found
    if not isinstance(instance, EventConsumer):
        raise UnknownConsumerError(
            f"{target} is not an EventConsumer (subclass consumers.runtime.EventConsumer)"
        )
    return instance
