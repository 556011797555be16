"""Which events a replay shows: `--session`, `--room`, `--agent`, `--type`, `--participant`.

Every value is a glob (`*user_state*`, `weather-*`); an option given several times matches
any of its values, and different options must all match. `prefilter` rejects records from
their key and headers alone, before the value is decoded; `matches` decides on the event.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import translate

from schemas import Event
from schemas.envelope import HEADER_TYPE
from schemas.payloads.room_v1 import ActiveSpeakersChangedV1

_GLOB_CHARS = frozenset("*?[")


def short_type(type_name: str) -> str:
    """`livekit.agent.user_state_changed` → `user_state_changed`."""
    return type_name.rpartition(".")[2]


_CACHE_SIZE = 4096


class _Glob:
    """Several globs compiled into one regex, with a cache of the answers (values repeat)."""

    __slots__ = ("_cache", "_match", "exact")

    def __init__(self, patterns: Sequence[str]) -> None:
        self._match = re.compile("|".join(f"(?:{translate(p)})" for p in patterns)).match
        self.exact = None if any(_GLOB_CHARS & set(p) for p in patterns) else frozenset(patterns)
        """The values when none has a glob character (then a key can be compared as bytes)."""
        self._cache: dict[str, bool] = {}

    def one(self, value: str | None) -> bool:
        if value is None:
            return False
        hit = self._cache.get(value)
        if hit is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            hit = self._cache[value] = self._match(value) is not None
        return hit

    def any(self, values: Iterable[str | None]) -> bool:
        return any(self.one(v) for v in values)


class _TypeGlob(_Glob):
    """Type globs match the full name (`livekit.agent.close`) or its last part (`close`)."""

    __slots__ = ()

    def one(self, value: str | None) -> bool:
        if value is None:
            return False
        hit = self._cache.get(value)
        if hit is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            hit = self._match(value) is not None or self._match(short_type(value)) is not None
            self._cache[value] = hit
        return hit


@dataclass(frozen=True, slots=True)
class EventFilter:
    """The filters of one replay; the empty filter shows everything."""

    sessions: tuple[str, ...] = ()
    rooms: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    """Globs over the full type (`livekit.agent.close`) or its last part (`close`)."""
    participants: tuple[str, ...] = ()
    """Globs over the envelope's participant identity or those the payload is about."""

    @property
    def empty(self) -> bool:
        return not (self.sessions or self.rooms or self.agents or self.types or self.participants)

    def compiled(self) -> CompiledFilter:
        return CompiledFilter(self)


class CompiledFilter:
    """An `EventFilter` with its globs compiled, for the per-record hot path."""

    __slots__ = (
        "_agents",
        "_participants",
        "_rooms",
        "_session_keys",
        "_sessions",
        "_type_headers",
        "_types",
        "empty",
        "types_only",
    )

    def __init__(self, spec: EventFilter) -> None:
        self.empty = spec.empty
        self._sessions = _Glob(spec.sessions) if spec.sessions else None
        self._rooms = _Glob(spec.rooms) if spec.rooms else None
        self._agents = _Glob(spec.agents) if spec.agents else None
        self._types = _TypeGlob(spec.types) if spec.types else None
        self._participants = _Glob(spec.participants) if spec.participants else None
        exact = self._sessions.exact if self._sessions else None
        self._session_keys = frozenset(s.encode() for s in exact) if exact is not None else None
        self._type_headers: dict[bytes, bool] = {}
        self.types_only = spec.types != () and spec == EventFilter(types=spec.types)
        """Only types are filtered: the `ce_type` prefilter decides every record that has its
        CloudEvents headers and is a current-version event (its header and body types agree)."""

    def prefilter(self, key: bytes | None, headers: Sequence[tuple[str, bytes]]) -> bool:
        """False when the key (session id) or the `ce_type` header already rule the record out.

        A record without them passes: `matches` decides once it is decoded.
        """
        if self._session_keys is not None and key is not None and key not in self._session_keys:
            return False
        if self._types is not None:
            # The producer writes ce_type third; look there first, then everywhere.
            if len(headers) > 2 and headers[2][0] == HEADER_TYPE:
                headers = (headers[2],)
            for name, value in headers:
                if name == HEADER_TYPE:
                    hit = self._type_headers.get(value)
                    if hit is None:
                        try:
                            hit = self._types.one(value.decode())
                        except UnicodeDecodeError:
                            return True
                        if len(self._type_headers) >= _CACHE_SIZE:
                            self._type_headers.clear()
                        self._type_headers[value] = hit
                    return hit
        return True

    def matches(self, event: Event) -> bool:
        """Whether the decoded event passes every filter."""
        if self.empty:
            return True
        if self._sessions is not None and not self._sessions.one(event.session_id):
            return False
        if self._rooms is not None and not self._rooms.one(event.room_name):
            return False
        if self._agents is not None and not self._agents.one(event.agent_name):
            return False
        if self._types is not None and not self._types.one(event.type):
            return False
        return self._participants is None or self._participants.any(participants_of(event))


def participants_of(event: Event) -> list[str | None]:
    """The envelope's participant identity and every participant the payload names."""
    found: list[str | None] = [event.participant_identity]
    data = event.data
    participant = getattr(data, "participant", None)
    identity = getattr(participant, "identity", None)
    if isinstance(identity, str):
        found.append(identity)
    if isinstance(data, ActiveSpeakersChangedV1):
        found.extend(s.identity for s in data.speakers)
    return found
