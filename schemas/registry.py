"""Every event type, its topic family and its schema versions, oldest first.

Versions are ``MAJOR.MINOR``. A published version is never edited: a change adds a
version beside it. Within a major, each version must be BACKWARD compatible with the
one before (``tests/unit/schemas/test_compatibility.py`` checks the committed files),
and a reader of version ``N.m`` also reads any newer ``N.m'`` by ignoring unknown
fields. A new major needs an explicit upcaster from the version before it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from pydantic import Field, create_model

from schemas.envelope import SPEC_VERSION, Event, TopicFamily
from schemas.exceptions import DecodeError, DecodeReason, RegistryError, UnsupportedEvent
from schemas.payloads import agent_v1, analytics_v1, commands_v1, lifecycle_v1, room_v1
from schemas.payloads.base import Payload

Upcaster = Callable[[Payload], Payload]
"""Turns a payload of the previous version into one of this version."""

_VERSION_RE = re.compile(r"^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$")


@dataclass(frozen=True, order=True, slots=True)
class SchemaVersion:
    """A ``MAJOR.MINOR`` schema version."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> SchemaVersion:
        """Parse ``"1.0"``; raise ValueError for anything else."""
        m = _VERSION_RE.match(text)
        if m is None or m.group(1) == "0":
            raise ValueError("schema version must look like 1.0")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def _literal(value: str) -> Any:
    return Literal[value]


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """One version of one event type."""

    event_type: str
    version: SchemaVersion
    model: type[Payload]
    event_class: type[Event]
    upcast: Upcaster | None = None


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An event type with all its versions."""

    event_type: str
    family: TopicFamily
    versions: tuple[VersionSpec, ...]

    @property
    def current(self) -> VersionSpec:
        """The newest version: what encoders write and decoders return."""
        return self.versions[-1]


def _event_class(
    type_name: str, version: SchemaVersion, model: type[Payload], family: TopicFamily
) -> type[Event]:
    fields: dict[str, Any] = {
        "specversion": (_literal(SPEC_VERSION), ...),
        "type": (_literal(type_name), ...),
        "schema_version": (_literal(str(version)), ...),
        "data": (model, ...),
    }
    if family is not TopicFamily.COMMANDS:
        fields["seq"] = (int, Field(ge=1))
    name = "Event_" + re.sub(r"\W", "_", f"{type_name}_v{version}")
    return cast(type[Event], create_model(name, __base__=Event, **fields))


def _default_upcast(model: type[Payload]) -> Upcaster:
    def upcast(previous: Payload) -> Payload:
        return model.model_validate(previous.model_dump())

    return upcast


@dataclass(slots=True)
class Registry:
    """Event types and versions known to this process."""

    _specs: dict[str, EventSpec] = field(default_factory=dict)
    fast_decoders: dict[bytes, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Fast-path validators of ``decode`` by ``ce_type`` header bytes; see fast_decode."""

    def register(
        self,
        type_name: str,
        family: TopicFamily,
        model: type[Payload],
        version: str = "1.0",
        upcast: Upcaster | None = None,
    ) -> None:
        """Add ``version`` of ``type_name``; it must be newer than every registered one."""
        parsed = SchemaVersion.parse(version)
        existing = self._specs.get(type_name)
        if existing is None:
            if upcast is not None:
                raise RegistryError(f"{type_name} {version}: the first version has no upcaster")
            versions: tuple[VersionSpec, ...] = ()
        else:
            if existing.family is not family:
                raise RegistryError(f"{type_name}: family cannot change between versions")
            last = existing.current.version
            if parsed <= last:
                raise RegistryError(f"{type_name} {version}: not newer than {last}")
            if parsed.major != last.major and upcast is None:
                raise RegistryError(f"{type_name} {version}: a new major needs an upcaster")
            versions = existing.versions
            upcast = upcast or _default_upcast(model)
        spec = VersionSpec(
            event_type=type_name,
            version=parsed,
            model=model,
            event_class=_event_class(type_name, parsed, model, family),
            upcast=upcast,
        )
        self._specs[type_name] = EventSpec(type_name, family, (*versions, spec))
        self.fast_decoders.clear()

    def get(self, type_name: str) -> EventSpec | None:
        """The spec of ``type_name``, or None."""
        return self._specs.get(type_name)

    def spec(self, type_name: str) -> EventSpec:
        """The spec of ``type_name``; UnsupportedEvent when unknown."""
        spec = self._specs.get(type_name)
        if spec is None:
            raise UnsupportedEvent(f"no schema for event type {type_name!r}")
        return spec

    def __iter__(self) -> Iterator[EventSpec]:
        return iter(self._specs.values())

    def types(self) -> list[str]:
        """All registered type names."""
        return list(self._specs)

    def resolve(self, spec: EventSpec, version_text: str) -> tuple[int, VersionSpec]:
        """Index and spec of the version to read a ``version_text`` record with.

        A newer minor of a known major is read with the newest known minor.
        """
        try:
            wanted = SchemaVersion.parse(version_text)
        except ValueError as exc:
            raise DecodeError(DecodeReason.UNSUPPORTED_VERSION, str(exc), path="schema_version") from exc
        best: int | None = None
        for idx, vs in enumerate(spec.versions):
            if vs.version == wanted:
                return idx, vs
            if vs.version.major == wanted.major and vs.version.minor < wanted.minor:
                best = idx
        if best is not None and best + 1 < len(spec.versions):
            nxt = spec.versions[best + 1].version
            if nxt.major == wanted.major:
                best = None
        if best is None:
            known = ", ".join(str(v.version) for v in spec.versions)
            raise DecodeError(
                DecodeReason.UNSUPPORTED_VERSION,
                f"{spec.event_type} has no version {wanted} (known: {known})",
                path="schema_version",
            )
        return best, spec.versions[best]


def _build_default() -> Registry:
    registry = Registry()
    families: list[tuple[TopicFamily, Mapping[str, type[Payload]]]] = [
        (TopicFamily.SESSION, agent_v1.EVENTS),
        (TopicFamily.ROOM, room_v1.EVENTS),
        (TopicFamily.SESSION, lifecycle_v1.EVENTS),
        (TopicFamily.COMMANDS, commands_v1.COMMANDS),
        (TopicFamily.SESSION, commands_v1.OUTCOMES),
        (TopicFamily.ANALYTICS, analytics_v1.EVENTS),
    ]
    for family, events in families:
        for type_name, model in events.items():
            if type_name == "livekit.agent.user_state_changed":
                family_here = TopicFamily.USER_STATE
            else:
                family_here = family
            registry.register(type_name, family_here, model)
    for type_name, version, model in room_v1.LATER_VERSIONS:
        registry.register(type_name, registry.spec(type_name).family, model, version)
    return registry


REGISTRY = _build_default()
"""The registry of every event type this package publishes."""
