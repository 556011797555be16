"""Record every event an AgentSession emits, with plain `session.on` handlers."""

from __future__ import annotations

import time
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from livekit.agents import AgentSession
from livekit.agents.voice.events import EventTypes

__all__ = ["EVENT_NAMES", "EventLog", "RecordedEvent"]

EVENT_NAMES: tuple[EventTypes, ...] = typing.get_args(EventTypes)
"""Every event name `AgentSession` declares (`livekit.agents.voice.events.EventTypes`)."""


@dataclass(frozen=True)
class RecordedEvent:
    """One emitted event: its name, the SDK's event object and when it arrived."""

    name: EventTypes
    event: Any
    monotonic: float


class EventLog:
    """Subscribes to every name in `EVENT_NAMES` and keeps events in emission order.

    Attach before `session.start()` to see the first `agent_state_changed`.
    Handlers only append, so they cannot disturb the SDK (a `TypeError` raised
    in a handler would propagate into the SDK code that emitted).
    """

    def __init__(self) -> None:
        self.events: list[RecordedEvent] = []

    def attach(self, session: AgentSession[Any]) -> EventLog:
        """Subscribe to `session`; returns self."""
        for name in EVENT_NAMES:
            session.on(name, self._handler(name))
        return self

    def _handler(self, name: EventTypes) -> Callable[[Any], None]:
        def _record(ev: Any) -> None:
            self.events.append(RecordedEvent(name, ev, time.monotonic()))

        return _record

    def __iter__(self) -> Iterator[RecordedEvent]:
        return iter(list(self.events))

    def __len__(self) -> int:
        return len(self.events)

    def names(self) -> list[str]:
        """Event names in emission order."""
        return [e.name for e in self.events]

    def of(self, name: EventTypes) -> list[Any]:
        """The event objects emitted under `name`, in order."""
        return [e.event for e in self.events if e.name == name]
