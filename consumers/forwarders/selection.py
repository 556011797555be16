"""Which events a forwarder sends on: type globs, agent-name globs and a filter expression, all ANDed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import translate

from consumers.forwarders.expression import FilterExpression, compile_filter
from schemas import Event


def _globs(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{translate(p)})" for p in patterns))


@dataclass(frozen=True, slots=True)
class Selector:
    """Selects events; the empty selector takes every event."""

    types: re.Pattern[str] | None = None
    """Globs over the full type (`livekit.agent.close`) or its last part (`close`)."""
    agents: re.Pattern[str] | None = None
    """Globs over the agent name; events without one never match when set."""
    expression: FilterExpression | None = None

    @classmethod
    def of(
        cls, types: Sequence[str] = (), agents: Sequence[str] = (), expression: str | None = None
    ) -> Selector:
        """Compile the selection; a bad expression raises `FilterError`."""
        return cls(_globs(types), _globs(agents), compile_filter(expression) if expression else None)

    def __call__(self, event: Event) -> bool:
        if self.types is not None:
            short = event.type.rpartition(".")[2]
            if self.types.match(event.type) is None and self.types.match(short) is None:
                return False
        if self.agents is not None and (
            event.agent_name is None or self.agents.match(event.agent_name) is None
        ):
            return False
        return self.expression is None or self.expression(event)
