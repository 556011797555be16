"""The human timeline: one line per event with its time, the delta from the previous line,
its type and what happened ("user listening → away", "agent thinking → speaking", what was said,
tool names, close reasons, command outcomes).

Pure: `TimelineRenderer.render(event)` returns lines, so it is unit-tested from `Event` objects.
Text fields are shown as the producer published them (already redacted when configured), or
hidden with `redact` (`lkbus replay --redact`), for a timeline to share.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from schemas import Event
from schemas.payloads import agent_v1 as agent
from schemas.payloads import commands_v1 as commands
from schemas.payloads import lifecycle_v1 as lifecycle
from schemas.payloads import room_v1 as room
from schemas.payloads.base import Payload

MAX_TEXT = 160
TYPE_WIDTH = 26


def display_type(type_name: str) -> str:
    """`livekit.agent.x` → `x`; `livekit.room.x` → `room.x`; `lkbus.session.x` → `session.x`."""
    if type_name.startswith("livekit.agent."):
        return type_name[len("livekit.agent.") :]
    if type_name.startswith("livekit."):
        return type_name[len("livekit.") :]
    if type_name.startswith("lkbus."):
        return type_name[len("lkbus.") :]
    return type_name


def format_delta(seconds: float) -> str:
    """`+0.512s`, `+2m05s`, `+1h02m`; negative when events arrive out of time order."""
    sign = "-" if seconds < 0 else "+"
    s = abs(seconds)
    if s < 60:
        return f"{sign}{s:.3f}s"
    if s < 3600:
        minutes, rest = divmod(int(s), 60)
        return f"{sign}{minutes}m{rest:02d}s"
    hours, rest = divmod(int(s), 3600)
    return f"{sign}{hours}h{rest // 60:02d}m"


def format_duration(seconds: float | None) -> str:
    """`12.3s`, `4m05s`, `1h02m`; `-` when unknown."""
    if seconds is None:
        return "-"
    return format_delta(seconds)[1:] if seconds >= 60 else f"{seconds:.1f}s"


def quote(text: str | None) -> str:
    """A text field in quotes, on one line and cut to `MAX_TEXT`; `[redacted]` when dropped."""
    if text is None:
        return "[redacted]"
    flat = " ".join(text.split())
    if len(flat) > MAX_TEXT:
        flat = flat[: MAX_TEXT - 1] + "…"
    return f'"{flat}"'


class Shown:
    """How what people said and who they are appear: as recorded, or redacted (what was said
    hidden, each participant identity replaced by `participant-N` in order of appearance, so
    that the timeline still tells them apart)."""

    def __init__(self, *, redact: bool = False) -> None:
        self.redact = redact
        self._aliases: dict[str, str] = {}

    def text(self, text: str | None) -> str:
        return quote(None if self.redact else text)

    def who(self, identity: str) -> str:
        if not self.redact:
            return identity
        alias = self._aliases.get(identity)
        if alias is None:
            alias = self._aliases[identity] = f"participant-{len(self._aliases) + 1}"
        return alias


_AS_RECORDED = Shown()


class TimelineRenderer:
    """Turns events, in the order shown, into timeline lines (UTC times).

    A `── 2024-05-01 (UTC) ──` line opens each new day; `show_session` appends the session id
    (useful when several sessions interleave); `redact` hides what was said and who said it.
    """

    def __init__(self, *, show_session: bool = True, redact: bool = False) -> None:
        self.show_session = show_session
        self._shown = Shown(redact=redact)
        self._previous: datetime | None = None
        self._day: str | None = None

    def render(self, event: Event) -> list[str]:
        when = event.time.astimezone(UTC)
        lines: list[str] = []
        day = when.strftime("%Y-%m-%d")
        if day != self._day:
            lines.append(f"── {day} (UTC) ──")
            self._day = day
        delta = "" if self._previous is None else format_delta((when - self._previous).total_seconds())
        self._previous = when
        clock = when.strftime("%H:%M:%S.") + f"{when.microsecond // 1000:03d}"
        what = describe(event, self._shown)
        line = f"{clock}  {delta:>9}  {display_type(event.type):<{TYPE_WIDTH}} {what}".rstrip()
        if self.show_session:
            line += f"  · {event.session_id}"
        lines.append(line)
        return lines


def undecodable_line(topic: str, partition: int, offset: int, reason: str) -> str:
    return f"undecodable record at {topic}/{partition}/{offset}: {reason}"


def describe(event: Event, shown: Shown = _AS_RECORDED) -> str:
    """The key fields of an event in a few words; empty for events with nothing to add."""
    data = event.data
    for model in type(data).__mro__:
        describer = _DESCRIBERS.get(model)
        if describer is not None:
            return describer(data, shown)
    return ""


def _user_state(d: agent.UserStateChangedV1, shown: Shown) -> str:
    return f"user {d.old_state} → {d.new_state}"


def _agent_state(d: agent.AgentStateChangedV1, shown: Shown) -> str:
    return f"agent {d.old_state} → {d.new_state}"


def _transcribed(d: agent.UserInputTranscribedV1, shown: Shown) -> str:
    return (
        f"user said {shown.text(d.transcript)}"
        if d.is_final
        else f"user (interim) {shown.text(d.transcript)}"
    )


def _content(
    part: agent.TextContentV1 | agent.MediaRefV1 | agent.CacheBreakpointV1, shown: Shown
) -> str | None:
    if isinstance(part, agent.TextContentV1):
        return shown.text(part.text)
    if isinstance(part, agent.MediaRefV1):
        return f"[{part.kind}]"
    return None


def _item_added(d: agent.ConversationItemAddedV1, shown: Shown) -> str:
    item = d.item
    if isinstance(item, agent.AgentHandoffItemV1):
        return f"handoff {item.old_agent_id or '-'} → {item.new_agent_id}"
    parts = [text for text in (_content(c, shown) for c in item.content) if text is not None]
    suffix = " (interrupted)" if item.interrupted else ""
    return f"{item.role}: {' '.join(parts) or '(empty)'}{suffix}"


def _tools_executed(d: agent.FunctionToolsExecutedV1, shown: Shown) -> str:
    failed = {o.call_id for o in d.function_call_outputs if o.is_error}
    names = [f"{c.name} (error)" if c.call_id in failed else c.name for c in d.function_calls]
    return f"tools {', '.join(names)}"


def _tool_update(d: agent.ToolExecutionUpdatedV1, shown: Shown) -> str:
    update = d.update
    if isinstance(update, agent.ToolCallStartedV1):
        return f"tool {update.function_call.name} started"
    if isinstance(update, agent.ToolCallUpdatedV1):
        return f"tool call {update.call_id} update"
    if isinstance(update, agent.ToolCallEndedV1):
        return f"tool call {update.call_id} {update.status}"
    return f"tool reply {update.status}"


def _speech(d: agent.SpeechCreatedV1, shown: Shown) -> str:
    who = "user-initiated " if d.user_initiated else ""
    return f"{who}speech {d.speech_id} ({d.source})"


def _error_detail(error: agent.ErrorDetailV1 | None) -> str:
    if error is None:
        return ""
    exc = f" {error.exception.class_name}" if error.exception else ""
    return f", error {error.type}{exc}"


def _error(d: agent.ErrorV1, shown: Shown) -> str:
    recoverable = " (recoverable)" if d.error.recoverable else ""
    exc = f" {d.error.exception.class_name}" if d.error.exception else ""
    provider = f" {d.source.provider}" if d.source.provider else ""
    return f"{d.source.kind}{provider} error {d.error.type}{exc}{recoverable}"


def _close(d: agent.CloseV1, shown: Shown) -> str:
    return f"closed: {d.reason}{_error_detail(d.error)}"


def _metrics(d: agent.MetricsCollectedV1, shown: Shown) -> str:
    return f"metrics {d.metrics.type}"


def _usage(d: agent.SessionUsageUpdatedV1, shown: Shown) -> str:
    models = [f"{u.type.removesuffix('_usage')} {u.provider}/{u.model}" for u in d.usage.model_usage]
    return f"usage {', '.join(models)}" if models else "usage"


def _started(d: lifecycle.SessionStartedV1, shown: Shown) -> str:
    return f"agent {d.agent_name} started"


def _ended(d: lifecycle.SessionEndedV1, shown: Shown) -> str:
    events = sum(d.event_counts.values()) + 1
    return f"ended: {d.reason}{_error_detail(d.error)}, {events} events, {format_duration(d.duration)}"


def _executed(d: commands.CommandExecutedV1, shown: Shown) -> str:
    speech = f" → speech {d.speech_id}" if d.speech_id else ""
    return f"{d.command_type} {d.command_id} executed{speech}"


def _rejected(d: commands.CommandRejectedV1, shown: Shown) -> str:
    detail = f" ({d.detail})" if d.detail else ""
    return f"{d.command_type} {d.command_id} rejected: {d.reason}{detail}"


def _who(participant: room.ParticipantRefV1 | room.ParticipantInfoV1 | None, shown: Shown) -> str:
    return shown.who(participant.identity) if participant is not None else "-"


def _connected(d: room.ParticipantConnectedV1, shown: Shown) -> str:
    return f"{_who(d.participant, shown)} joined ({d.participant.kind})"


def _disconnected(d: room.ParticipantDisconnectedV1, shown: Shown) -> str:
    return f"{_who(d.participant, shown)} left" + (f" ({d.reason})" if d.reason else "")


def _track(verb: str) -> Callable[[Any, Shown], str]:
    def render(d: Any, shown: Shown) -> str:
        return f"{_who(d.participant, shown)} {verb} {d.publication.kind} ({d.publication.source})"

    return render


def _speakers(d: room.ActiveSpeakersChangedV1, shown: Shown) -> str:
    return "speakers " + (", ".join(shown.who(s.identity) for s in d.speakers) or "none")


def _transcription(d: room.TranscriptionReceivedV1, shown: Shown) -> str:
    text = " ".join(s.text for s in d.segments if s.text) if any(s.text for s in d.segments) else None
    return f"{_who(d.participant, shown)} transcription {shown.text(text)}"


def _data(d: room.DataReceivedV1, shown: Shown) -> str:
    topic = f" on {d.topic}" if d.topic else ""
    return f"{_who(d.participant, shown)} sent {d.size} bytes{topic}"


_DESCRIBERS: dict[type[Payload], Callable[[Any, Shown], str]] = {
    agent.UserStateChangedV1: _user_state,
    agent.AgentStateChangedV1: _agent_state,
    agent.UserInputTranscribedV1: _transcribed,
    agent.UserTranscriptionTimeoutV1: lambda d, shown: (
        f"no transcript after {d.speech_duration:.1f}s of speech"
    ),
    agent.ConversationItemAddedV1: _item_added,
    agent.AgentFalseInterruptionV1: lambda d, shown: (
        "false interruption" + (" (resumed)" if d.resumed else "")
    ),
    agent.OverlappingSpeechV1: lambda d, shown: (
        "overlapping speech" + (" (interruption)" if d.is_interruption else "")
    ),
    agent.FunctionToolsExecutedV1: _tools_executed,
    agent.MetricsCollectedV1: _metrics,
    agent.SessionUsageUpdatedV1: _usage,
    agent.SpeechCreatedV1: _speech,
    agent.ToolExecutionUpdatedV1: _tool_update,
    agent.ErrorV1: _error,
    agent.CloseV1: _close,
    lifecycle.SessionStartedV1: _started,
    lifecycle.SessionEndedV1: _ended,
    commands.CommandExecutedV1: _executed,
    commands.CommandRejectedV1: _rejected,
    room.ParticipantConnectedV1: _connected,
    room.ParticipantDisconnectedV1: _disconnected,
    room.ParticipantActiveV1: lambda d, shown: f"{_who(d.participant, shown)} active",
    room.ActiveSpeakersChangedV1: _speakers,
    room.ConnectionQualityChangedV1: lambda d, shown: f"{_who(d.participant, shown)} quality {d.quality}",
    room.TrackPublishedV1: _track("published"),
    room.TrackUnpublishedV1: _track("unpublished"),
    room.TrackSubscribedV1: _track("subscribed to"),
    room.TrackUnsubscribedV1: _track("unsubscribed from"),
    room.TrackMutedV1: _track("muted"),
    room.TrackUnmutedV1: _track("unmuted"),
    room.TrackSubscriptionFailedV1: lambda d, shown: (
        f"{_who(d.participant, shown)} subscription to {d.track_sid} failed"
    ),
    room.TranscriptionReceivedV1: _transcription,
    room.DataReceivedV1: _data,
    room.SipDtmfReceivedV1_1: lambda d, shown: (
        f"{_who(d.participant, shown)} dtmf {'(redacted)' if shown.redact else d.digit or '(redacted)'}"
    ),
    room.ConnectionStateChangedV1: lambda d, shown: f"connection {d.state}",
    room.DisconnectedV1: lambda d, shown: f"disconnected: {d.reason}",
}
