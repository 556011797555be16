"""The CloudEvents 1.0 envelope every record carries, and its Kafka binary-mode headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SerializeAsAny

from schemas.payloads.base import Payload

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

HEADER_SPECVERSION = "ce_specversion"
HEADER_ID = "ce_id"
HEADER_TYPE = "ce_type"
HEADER_SOURCE = "ce_source"
HEADER_TIME = "ce_time"
HEADER_CONTENT_TYPE = "content-type"
SCHEMA_VERSION_HEADER = "ce_schemaversion"
"""CloudEvents extension attribute carrying the payload's schema version ("1.0")."""


class TopicFamily(StrEnum):
    """Which topic a record belongs on; the producer maps families to topic names."""

    SESSION = "session"
    USER_STATE = "user_state"
    ROOM = "room"
    COMMANDS = "commands"
    ANALYTICS = "analytics"


@dataclass(frozen=True, slots=True)
class SessionContext:
    """Who the events of one session belong to; built once per session."""

    session_id: str
    agent_name: str
    source: str
    job_id: str | None = None
    room_name: str | None = None
    room_sid: str | None = None
    participant_identity: str | None = None
    encoder_cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """The encoder's per-type byte fragments for this session (internal)."""


class EncodedRecord(NamedTuple):
    """A Kafka record ready to send: key = session id, value = envelope JSON."""

    family: TopicFamily
    type: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    time: float
    """The event's own time, epoch seconds."""


class Event(BaseModel):
    """A decoded record: envelope attributes plus the typed payload in ``data``.

    ``data`` is always the current version's model for ``type`` (older versions are
    upcast on decode), and ``schema_version`` names that version.
    """

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        json_schema_extra={"additionalProperties": False},
    )

    specversion: str = Field(default=SPEC_VERSION, pattern=r"^1\.0$")
    id: str = Field(min_length=1)
    type: str
    source: str = Field(min_length=1)
    time: AwareDatetime
    schema_version: str
    session_id: str = Field(min_length=1)
    agent_name: str | None = None
    job_id: str | None = None
    room_name: str | None = None
    room_sid: str | None = None
    participant_identity: str | None = None
    seq: int | None = Field(default=None, ge=1)
    """Per-session sequence number, 1..N without gaps; None on commands."""
    data: SerializeAsAny[Payload]
