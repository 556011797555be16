"""Version 1 payloads of the events the producer emits about a session's life."""

from __future__ import annotations

from pydantic import Field

from schemas.payloads.agent_v1 import ErrorDetailV1
from schemas.payloads.base import Payload, WireModel


class ModelRefV1(WireModel):
    """A model plugged into the session."""

    provider: str | None = None
    model: str | None = None


class SessionModelsV1(WireModel):
    stt: ModelRefV1 | None = None
    llm: ModelRefV1 | None = None
    tts: ModelRefV1 | None = None
    vad: ModelRefV1 | None = None
    realtime: ModelRefV1 | None = None


class SessionTimeoutsV1(WireModel):
    """Timeouts in seconds; None when disabled or unknown."""

    user_away_timeout: float | None = None
    transcription_timeout: float | None = None
    min_endpointing_delay: float | None = None
    max_endpointing_delay: float | None = None
    false_interruption_timeout: float | None = None
    session_close_transcript_timeout: float | None = None


class SessionOptionsV1(WireModel):
    """A snapshot of the session's options when it started."""

    models: SessionModelsV1 = Field(default_factory=SessionModelsV1)
    timeouts: SessionTimeoutsV1 = Field(default_factory=SessionTimeoutsV1)
    turn_detection: str | None = None
    max_tool_steps: int | None = None


class SessionStartedV1(Payload):
    """The producer attached to a session; ``seq`` 1 of every session."""

    agent_name: str
    options: SessionOptionsV1 = Field(default_factory=SessionOptionsV1)


class SessionEndedV1(Payload):
    """The producer detached; the last event of a session."""

    reason: str
    error: ErrorDetailV1 | None = None
    event_counts: dict[str, int] = Field(default_factory=dict)
    """Events published for this session, per type, this one excluded."""
    last_seq: int
    """``seq`` of this event: consumers use it to prove nothing is missing."""
    duration: float | None = None
    """Seconds since the session started."""


EVENTS: dict[str, type[Payload]] = {
    "lkbus.session.started": SessionStartedV1,
    "lkbus.session.ended": SessionEndedV1,
}
"""Event type name to its version 1 payload model."""
