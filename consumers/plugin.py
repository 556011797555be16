"""Custom consumers in a few lines: a decorated function becomes a consumer service.

```python
from consumers.plugin import consumer
from schemas import Event


@consumer("away-alerts", types=["livekit.agent.user_state_changed"], topics=["user_state"])
async def away_alerts(event: Event) -> None:
    if event.data.new_state == "away":
        await notify_ops(event.session_id)
```

`lkbus consume mypackage.alerts:away_alerts` runs it in the consumer group `lkbus.away-alerts`
with the runtime's guarantees (commit after the handler returned, dead letters, retries of
`RetriableError`, graceful shutdown, upcasting of old schema versions). A package can also
register it under the entry-point group `lkbus.consumers` so `lkbus consume --list` finds it.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from consumers.runtime import EventConsumer, Incoming
from lkbus.settings import Settings
from schemas import Event

TopicName = Literal["session", "user_state", "room", "commands", "analytics"]
Handler = Callable[..., Awaitable[None]]

_TOPIC_FIELDS: dict[str, str] = {
    "session": "session_events",
    "user_state": "user_state",
    "room": "room_events",
    "commands": "commands",
    "analytics": "analytics_sessions",
}


class FunctionConsumer(EventConsumer):
    """A consumer made from one async function by `@consumer`."""

    def __init__(
        self, name: str, handler: Handler, types: Sequence[str], topics: Sequence[TopicName]
    ) -> None:
        self.name = name  # type: ignore[misc]  # a per-instance name for function consumers
        self.handler = handler
        self.types = tuple(types)
        self.topics = tuple(topics)
        self._wants_record = len(inspect.signature(handler).parameters) >= 2

    def subscriptions(self, settings: Settings) -> list[str]:
        t = settings.topics
        return [t.name(getattr(t, _TOPIC_FIELDS[topic])) for topic in self.topics]

    def accepts(self, event: Event) -> bool:
        """Whether the event's type matches one of the type globs (all when none were given)."""
        return not self.types or any(fnmatch.fnmatchcase(event.type, pattern) for pattern in self.types)

    async def handle_one(self, record: Incoming) -> None:
        if self.accepts(record.event):
            if self._wants_record:
                await self.handler(record.event, record)
            else:
                await self.handler(record.event)


class ConsumerSpec:
    """What `@consumer` returns: still callable as the function, and a factory of consumers."""

    def __init__(
        self, name: str, handler: Handler, types: Sequence[str], topics: Sequence[TopicName]
    ) -> None:
        unknown = [t for t in topics if t not in _TOPIC_FIELDS]
        if unknown:
            raise ValueError(f"unknown topic {unknown[0]!r}: use {', '.join(_TOPIC_FIELDS)}")
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"@consumer needs an async function, got {handler!r}")
        self.name = name
        self.handler = handler
        self.types = tuple(types)
        self.topics = tuple(topics)
        self.__doc__ = handler.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Awaitable[None]:
        return self.handler(*args, **kwargs)

    def build(self) -> FunctionConsumer:
        """A fresh consumer instance (the runtime makes one per service)."""
        return FunctionConsumer(self.name, self.handler, self.types, self.topics)


def consumer(
    name: str,
    *,
    types: Sequence[str] = (),
    topics: Sequence[TopicName] = ("session", "user_state", "room"),
) -> Callable[[Handler], ConsumerSpec]:
    """Make an async function `(event)` or `(event, record)` a consumer named `name`.

    `types` are globs over event types (e.g. `livekit.agent.*`); `topics` name which of the
    project's topics to read.
    """

    def wrap(handler: Handler) -> ConsumerSpec:
        return ConsumerSpec(name, handler, types, topics)

    return wrap
