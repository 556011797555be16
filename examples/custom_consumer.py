"""A custom consumer in a few lines: count the times users went away, per agent.

Run it against your topics:

    lkbus consume examples.custom_consumer:away_counter

It reads `lk.user.state` in its own consumer group (`lkbus.away-counter`), gets typed, upcast
events, and has the runtime's guarantees: the offset is committed only after the function
returned, a record it cannot handle goes to the dead-letter topic, SIGTERM stops it cleanly.
"""

from __future__ import annotations

from collections import Counter

from consumers.plugin import consumer
from consumers.runtime import PoisonRecordError
from schemas import Event
from schemas.payloads.agent_v1 import UserStateChangedV1

AWAY_BY_AGENT: Counter[str] = Counter()


@consumer("away-counter", types=["livekit.agent.user_state_changed"], topics=["user_state"])
async def away_counter(event: Event) -> None:
    """Count `away` transitions per agent name."""
    if not isinstance(event.data, UserStateChangedV1):
        raise PoisonRecordError(f"expected a user state change, got {type(event.data).__name__}")
    if event.data.new_state == "away":
        AWAY_BY_AGENT[event.agent_name or "unknown"] += 1
