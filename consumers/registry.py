"""Find a consumer by name (the built-in ones) or by `module:attribute` (a plugin)."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from consumers.plugin import ConsumerSpec
from consumers.runtime.consumer import EventConsumer
from consumers.runtime.errors import UnknownConsumerError

BUILTIN: dict[str, str] = {
    "inactivity": "consumers.inactivity.service:InactivityConsumer",
    "analytics": "consumers.analytics.service:AnalyticsConsumer",
    "archival": "consumers.archival.service:ArchivalConsumer",
    "http-forwarder": "consumers.forwarders.http:HttpForwarder",
    "kafka-forwarder": "consumers.forwarders.kafka:KafkaForwarder",
}


ENTRY_POINT_GROUP = "lkbus.consumers"


def available() -> dict[str, str]:
    """Every consumer `lkbus consume` knows by name: the built-in ones and the entry points."""
    found = dict(BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry.value)
    return found


def load_consumer(name: str) -> EventConsumer:
    """A new instance of the consumer `name`: a known name (`available()`), or `package.module:attribute`."""
    target = available().get(name, name)
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise UnknownConsumerError(
            f"no consumer named {name!r}: use one of {', '.join(sorted(available()))} "
            "or give module:attribute"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownConsumerError(f"cannot import {module_name!r} for consumer {name!r}: {exc}") from None
    found: Any = getattr(module, attribute, None)
    if found is None:
        raise UnknownConsumerError(f"{module_name!r} has no attribute {attribute!r}")
    if isinstance(found, ConsumerSpec):
        return found.build()
    instance = found() if callable(found) and not isinstance(found, EventConsumer) else found
    if not isinstance(instance, EventConsumer):
        raise UnknownConsumerError(
            f"{target} is not an EventConsumer (subclass consumers.runtime.EventConsumer)"
        )
    return instance
