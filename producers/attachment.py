"""One session's publication: its handlers, its `seq` counter and its lifecycle events."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import typing
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from livekit.agents import NOT_GIVEN
from livekit.agents.voice import events as sdk_events

from schemas import (
    EXCLUDED_AGENT_EVENTS,
    CloseSessionV1,
    CommandV1,
    EncodedRecord,
    PromptUserV1,
    SayV1,
    SessionContext,
    encode_event,
    encode_room_event,
)
from schemas import encode_session_event as encode_agent_event
from schemas.sdk_mapping.agent import error_detail
from schemas.sdk_mapping.room import MAPPERS as ROOM_EVENT_MAPPERS

if TYPE_CHECKING:
    from livekit import rtc
    from livekit.agents import AgentSession, JobContext

    from producers.publisher import EventPublisher

logger = logging.getLogger("lkbus.producers")

AGENT_EVENT_NAMES: tuple[str, ...] = tuple(
    name for name in typing.get_args(sdk_events.EventTypes) if name not in EXCLUDED_AGENT_EVENTS
)
ROOM_EVENT_NAMES: tuple[str, ...] = tuple(ROOM_EVENT_MAPPERS)
_SOURCE = f"{socket.gethostname()}/{os.getpid()}"


class SessionPublication:
    """Publishes one session's events; made by `EventPublisher.attach`."""

    def __init__(
        self,
        publisher: EventPublisher,
        session: AgentSession[Any],
        ctx: SessionContext,
        room: rtc.Room | None,
    ) -> None:
        self.publisher = publisher
        self.session = session
        self.context = ctx
        self.room = room
        self.seq = 0
        self.closed = False
        self.started_at = time.time()
        self._counts: Counter[str] = Counter()
        self._handlers: list[tuple[Any, str, Callable[..., None]]] = []
        self._transform = publisher.text_transform
        self._command_ids: set[str] = set()
        try:
            self.loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None
        self._include_data = publisher.settings.include_data_bytes

    @classmethod
    def create(
        cls,
        publisher: EventPublisher,
        session: AgentSession[Any],
        ctx: JobContext | None,
        *,
        room: rtc.Room | None,
        session_id: str | None,
        agent_name: str | None,
        job_id: str | None,
        room_name: str | None,
        room_sid: str | None,
    ) -> SessionPublication:
        if ctx is not None:
            job = ctx.job
            job_id = job_id or job.id
            room_name = room_name or job.room.name
            room_sid = room_sid or job.room.sid or None
            agent_name = agent_name or job.agent_name or None
            room = room or ctx.room
        if session_id is None:
            if job_id is None:
                raise ValueError("pass a JobContext or a session_id to identify the session")
            session_id = job_id
        context = SessionContext(
            session_id=session_id,
            agent_name=agent_name or "agent",
            source=_SOURCE,
            job_id=job_id,
            room_name=room_name,
            room_sid=room_sid,
        )
        publication = cls(publisher, session, context, room)
        publication._subscribe()
        publication._emit_lifecycle(
            "lkbus.session.started",
            {
                "agent_name": context.agent_name,
                "options": _options_snapshot(session),
            },
        )
        return publication

    # --- handlers: called on the agent's loop; they encode, enqueue and never raise ---------

    def _on_agent_event(self, name: str) -> Callable[[Any], None]:
        def handler(event: Any) -> None:
            try:
                self._refresh_identity()
                record = encode_agent_event(event, self.context, self.seq + 1, text_transform=self._transform)
                self.seq += 1
                self._publish(record)
                if name == "close":
                    self._finish(event)
            except Exception:  # noqa: BLE001 - raising here would reach the SDK (a TypeError crashes it)
                self._encode_failed(name)

        return handler

    def _on_room_event(self, name: str) -> Callable[..., None]:
        def handler(*args: Any) -> None:
            try:
                record = encode_room_event(
                    name,
                    args,
                    self.context,
                    self.seq + 1,
                    include_data_bytes=self._include_data,
                    text_transform=self._transform,
                    room=self.room,
                )
                if record is not None:
                    self.seq += 1
                    self._publish(record)
            except Exception:  # noqa: BLE001 - raising here would reach the SDK (a TypeError crashes it)
                self._encode_failed(name)

        return handler

    def _publish(self, record: EncodedRecord) -> None:
        self._counts[record.type] += 1
        self.publisher.publish(record)

    def _encode_failed(self, name: str) -> None:
        from producers import metrics

        metrics.ENCODE_ERRORS.inc()
        logger.warning(
            "could not encode a %s event of session %s", name, self.context.session_id, exc_info=True
        )

    # --- lifecycle -------------------------------------------------------------------------

    def _subscribe(self) -> None:
        for name in AGENT_EVENT_NAMES:
            handler = self._on_agent_event(name)
            self.session.on(name, handler)  # type: ignore[arg-type]  # names read from the SDK
            self._handlers.append((self.session, name, handler))
        if self.room is not None:
            for name in ROOM_EVENT_NAMES:
                room_handler = self._on_room_event(name)
                self.room.on(name, room_handler)  # type: ignore[arg-type]  # names the schemas map
                self._handlers.append((self.room, name, room_handler))

    def _unsubscribe(self) -> None:
        for emitter, name, handler in self._handlers:
            emitter.off(name, handler)
        self._handlers.clear()

    def _emit_lifecycle(self, type_name: str, data: dict[str, Any]) -> None:
        self.seq += 1
        self._publish(encode_event(type_name, data, self.context, self.seq, time.time()))

    def _finish(self, close_event: Any) -> None:
        """After `close`: emit session ended and stop listening."""
        if self.closed:
            return
        self.closed = True
        error = getattr(close_event, "error", None)
        counts = dict(self._counts)
        self._emit_lifecycle(
            "lkbus.session.ended",
            {
                "reason": str(getattr(getattr(close_event, "reason", None), "value", "unknown")),
                "error": None if error is None else error_detail(error),
                "event_counts": counts,
                "last_seq": self.seq + 1,
                "duration": time.time() - self.started_at,
            },
        )
        self._unsubscribe()
        self.publisher.forget(self)

    # --- commands: submitted from the publisher's thread, run on the session's loop ----------

    def submit_command(self, command: CommandV1) -> None:
        """Run `command` on this session's loop (thread-safe)."""
        if self.loop is None or self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self._run_command, command)

    def _run_command(self, command: CommandV1) -> None:
        kind = command_kind(command)
        if command.command_id in self._command_ids:
            self._command_outcome(command, kind, rejected="duplicate")
            return
        self._command_ids.add(command.command_id)
        if command.expires_at < time.time():
            self._command_outcome(command, kind, rejected="expired")
            return
        if self.closed:
            self._command_outcome(command, kind, rejected="session_closed")
            return
        try:
            speech_id = self._execute(command)
        except RuntimeError as exc:  # "AgentSession isn't running" and the like
            self._command_outcome(command, kind, rejected="session_closed", detail=exc.__class__.__name__)
            return
        except Exception as exc:  # noqa: BLE001 - a failed command is reported, never raised into the SDK
            self._command_outcome(command, kind, rejected="failed", detail=exc.__class__.__name__)
            return
        self._command_outcome(command, kind, speech_id=speech_id)

    def _execute(self, command: CommandV1) -> str | None:
        if isinstance(command, PromptUserV1):
            handle = self.session.generate_reply(
                instructions=command.instructions or NOT_GIVEN,
                allow_interruptions=NOT_GIVEN
                if command.allow_interruptions is None
                else command.allow_interruptions,
            )
            return handle.id
        if isinstance(command, SayV1):
            handle = self.session.say(
                command.text,
                allow_interruptions=NOT_GIVEN
                if command.allow_interruptions is None
                else command.allow_interruptions,
                add_to_chat_ctx=command.add_to_chat_ctx,
            )
            return handle.id
        if isinstance(command, CloseSessionV1):
            self.session.shutdown(drain=command.drain)
            return None
        raise TypeError(f"unknown command {type(command).__name__}")

    def _command_outcome(
        self,
        command: CommandV1,
        kind: str,
        *,
        rejected: str | None = None,
        speech_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        if self.closed:
            logger.info("command %s arrived after its session ended", command.command_id)
            return
        if rejected is None:
            self._emit_lifecycle(
                "lkbus.command.executed",
                {
                    "command_id": command.command_id,
                    "command_type": kind,
                    "speech_id": speech_id,
                },
            )
        else:
            self._emit_lifecycle(
                "lkbus.command.rejected",
                {
                    "command_id": command.command_id,
                    "command_type": kind,
                    "reason": rejected,
                    "detail": detail,
                },
            )

    def detach(self, reason: str = "detached") -> None:
        """Stop publishing this session (emits session ended unless it already closed)."""
        if not self.closed:
            self._finish(_Closed(reason))

    async def flushed(self, timeout: float | None = None) -> bool:
        """Wait until this session's events so far are delivered or journaled."""
        return await self.publisher.flush(timeout)

    async def on_job_shutdown(self, _reason: str = "") -> None:
        """Shutdown callback: close the session (so its `close` event is published), end the
        stream and flush within the deadline."""
        if not self.closed:
            try:
                await asyncio.wait_for(self.session.aclose(), self.publisher.settings.flush_timeout_s)
            except Exception:  # noqa: BLE001 - the stream is ended below whatever the session did
                logger.warning("session %s did not close cleanly at job shutdown", self.context.session_id)
        self.detach("job_shutdown")
        await self.flushed()

    def _refresh_identity(self) -> None:
        if self.context.participant_identity is not None:
            return
        room_io = getattr(self.session, "_room_io", None)
        participant = getattr(room_io, "linked_participant", None) if room_io is not None else None
        identity = getattr(participant, "identity", None)
        if identity:
            self.context = replace(self.context, participant_identity=identity)


def command_kind(command: CommandV1) -> str:
    """The `command_type` of an outcome event."""
    if isinstance(command, PromptUserV1):
        return "prompt_user"
    if isinstance(command, SayV1):
        return "say"
    return "close_session"


class _Closed:
    def __init__(self, reason: str) -> None:
        self.reason = _Reason(reason)
        self.error = None


class _Reason:
    def __init__(self, value: str) -> None:
        self.value = value


def _model_ref(model: Any) -> dict[str, Any] | None:
    if model is None:
        return None
    return {
        "provider": _safe_str(getattr(model, "provider", None)),
        "model": _safe_str(getattr(model, "model", None)),
    }


def _safe_str(value: Any) -> str | None:
    return None if value is None or not isinstance(value, str) else value


def _options_snapshot(session: AgentSession[Any]) -> dict[str, Any]:
    options = session.options
    turn = getattr(options, "turn_handling", None)
    endpointing = turn.get("endpointing", {}) if isinstance(turn, dict) else {}
    detection = turn.get("turn_detection") if isinstance(turn, dict) else None
    return {
        "models": {
            "stt": _model_ref(session.stt),
            "llm": _model_ref(session.llm),
            "tts": _model_ref(session.tts),
            "vad": _model_ref(session.vad),
        },
        "timeouts": {
            "user_away_timeout": options.user_away_timeout,
            "transcription_timeout": getattr(options, "transcription_timeout", None),
            "min_endpointing_delay": endpointing.get("min_delay") if isinstance(endpointing, dict) else None,
            "max_endpointing_delay": endpointing.get("max_delay") if isinstance(endpointing, dict) else None,
            "session_close_transcript_timeout": getattr(options, "session_close_transcript_timeout", None),
        },
        "turn_detection": detection if isinstance(detection, str) else None,
        "max_tool_steps": getattr(options, "max_tool_steps", None),
    }
