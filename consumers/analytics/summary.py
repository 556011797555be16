"""The per-session summary: a pure fold of one session's events, in ``seq`` order.

``SessionAccumulator`` takes events as they arrive (out of order, duplicated), applies them
in ``seq`` order as soon as the sequence is contiguous and buffers the rest;
``fold_session`` is the same over an iterable. Definitions are in ``SessionSummaryV1``.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from consumers.analytics.dispatch import ByPayloadType
from consumers.analytics.exceptions import AnalyticsError, SessionMismatchError
from consumers.analytics.stats import latency
from schemas.envelope import Event
from schemas.payloads import agent_v1 as a
from schemas.payloads import commands_v1 as c
from schemas.payloads import lifecycle_v1 as lc
from schemas.payloads.analytics_v1 import (
    AgentStateTimesV1,
    ErrorCountV1,
    LatenciesV1,
    PromptsV1,
    SessionSummaryV1,
    SummaryStatus,
    ToolStatsV1,
    UsageKind,
    UsageV1,
    UserStateTimesV1,
)

SessionSummary = SessionSummaryV1
"""The summary model of the current schema version."""

LATENCY_KINDS: tuple[str, ...] = tuple(LatenciesV1.model_fields)
"""end_of_utterance, transcription, llm_ttft, tts_ttfb, response."""

_UsageKey = tuple[UsageKind, str, str]


@dataclass(slots=True)
class _Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    characters: int = 0
    audio_seconds: float = 0.0
    requests: int = 0


@dataclass(slots=True)
class _Fold:
    """The running state of one session; ``apply`` expects events in ``seq`` order."""

    agent_name: str | None = None
    started_at: float | None = None
    first_time: float | None = None
    clock: float | None = None
    closed_at: float | None = None
    ended_at: float | None = None
    close_reason: str | None = None
    end_reason: str | None = None
    last_seq: int | None = None
    user_state: str = "listening"
    agent_state: str = "initializing"
    user_since: float | None = None
    agent_since: float | None = None
    user_time: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    agent_time: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    user_stopped_at: float | None = None
    counts: Counter[str] = field(default_factory=Counter)
    pending_prompts: int = 0
    tools: dict[str, list[int]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in LATENCY_KINDS})
    last_usage: a.SessionUsageV1 | None = None
    metric_usage: dict[_UsageKey, _Usage] = field(default_factory=dict)
    errors: Counter[tuple[str, str | None, bool | None]] = field(default_factory=Counter)

    @property
    def ended(self) -> bool:
        return self.closed_at is not None or self.ended_at is not None

    def apply(self, event: Event) -> None:
        """Fold one event in."""
        t = event.time.timestamp()
        if self.first_time is None:
            self.first_time = self.user_since = self.agent_since = t
        clock = self.clock
        if clock is None or t > clock:
            self.clock = t
        if self.agent_name is None and event.agent_name:
            self.agent_name = event.agent_name
        data = event.data
        _ON_PAYLOAD[type(data)](self, data, t)

    def _conversation_item(self, data: a.ConversationItemAddedV1, t: float) -> None:
        item = data.item
        if isinstance(item, a.ChatMessageItemV1):
            if item.role == "user":
                self.counts["user_turns"] += 1
            elif item.role == "assistant":
                self.counts["agent_replies"] += 1
                self.counts["interruptions"] += item.interrupted

    def _false_interruption(self, data: a.AgentFalseInterruptionV1, t: float) -> None:
        self.counts["false_interruptions"] += 1

    def _tools_executed(self, data: a.FunctionToolsExecutedV1, t: float) -> None:
        self._tools(data)

    def _metrics_collected(self, data: a.MetricsCollectedV1, t: float) -> None:
        self._metrics(data.metrics)

    def _usage_updated(self, data: a.SessionUsageUpdatedV1, t: float) -> None:
        self.last_usage = data.usage

    def _error(self, data: a.ErrorV1, t: float) -> None:
        self.errors[(data.source.kind, data.source.provider, data.error.recoverable)] += 1

    def _close(self, data: a.CloseV1, t: float) -> None:
        self.closed_at = t
        self.close_reason = data.reason

    def _session_started(self, data: lc.SessionStartedV1, t: float) -> None:
        self.started_at = t
        self.agent_name = self.agent_name or data.agent_name

    def _session_ended(self, data: lc.SessionEndedV1, t: float) -> None:
        self.ended_at = t
        self.end_reason = data.reason
        self.last_seq = data.last_seq

    def _command_executed(self, data: c.CommandExecutedV1, t: float) -> None:
        if data.command_type == "prompt_user":
            self.counts["prompts"] += 1
            self.pending_prompts += 1

    def _command_rejected(self, data: c.CommandRejectedV1, t: float) -> None:
        if data.command_type == "prompt_user":
            self.counts["prompts_rejected"] += 1

    def _ignore(self, data: object, t: float) -> None:
        return None

    def _user_state(self, data: a.UserStateChangedV1, t: float) -> None:
        since = self.user_since if self.user_since is not None else t
        self.user_time[self.user_state] += max(0.0, t - since)
        self.user_state, self.user_since = data.new_state, max(since, t)
        if data.new_state == "away":
            self.counts["away_episodes"] += 1
        if data.new_state == "speaking":
            self.user_stopped_at = None
        elif data.old_state == "speaking":
            self.user_stopped_at = t
        if data.new_state == "speaking" or data.old_state == "away":
            self.counts["prompts_returned"] += self.pending_prompts
            self.pending_prompts = 0

    def _agent_state(self, data: a.AgentStateChangedV1, t: float) -> None:
        since = self.agent_since if self.agent_since is not None else t
        self.agent_time[self.agent_state] += max(0.0, t - since)
        self.agent_state, self.agent_since = data.new_state, max(since, t)
        if data.new_state == "speaking" and self.user_stopped_at is not None:
            self.latencies["response"].append(max(0.0, t - self.user_stopped_at))
            self.user_stopped_at = None

    def _tools(self, data: a.FunctionToolsExecutedV1) -> None:
        names = {call.call_id: call.name for call in data.function_calls}
        for call in data.function_calls:
            self.tools.setdefault(call.name, [0, 0])[0] += 1
        for output in data.function_call_outputs:
            if output.is_error:
                name = output.name or names.get(output.call_id, "unknown")
                self.tools.setdefault(name, [0, 0])[1] += 1

    def _usage(self, kind: UsageKind, metadata: a.MetadataV1 | None) -> _Usage:
        provider = (metadata.model_provider if metadata else None) or "unknown"
        model = (metadata.model_name if metadata else None) or "unknown"
        return self.metric_usage.setdefault((kind, provider, model), _Usage())

    def _metrics(self, m: a.AgentMetricsV1) -> None:
        lat = self.latencies
        if isinstance(m, a.EOUMetricsV1):
            lat["end_of_utterance"].append(m.end_of_utterance_delay)
            lat["transcription"].append(m.transcription_delay)
        elif isinstance(m, a.LLMMetricsV1):
            if m.ttft >= 0:
                lat["llm_ttft"].append(m.ttft)
            u = self._usage("llm", m.metadata)
            u.input_tokens += m.prompt_tokens
            u.output_tokens += m.completion_tokens
            u.requests += 1
        elif isinstance(m, a.RealtimeModelMetricsV1):
            if m.ttft >= 0:
                lat["llm_ttft"].append(m.ttft)
            u = self._usage("llm", m.metadata)
            u.input_tokens += m.input_tokens
            u.output_tokens += m.output_tokens
            u.requests += 1
        elif isinstance(m, a.TTSMetricsV1):
            if m.ttfb >= 0:
                lat["tts_ttfb"].append(m.ttfb)
            u = self._usage("tts", m.metadata)
            u.input_tokens += m.input_tokens
            u.output_tokens += m.output_tokens
            u.characters += m.characters_count
            u.audio_seconds += m.audio_duration
            u.requests += 1
        elif isinstance(m, a.STTMetricsV1):
            u = self._usage("stt", m.metadata)
            u.input_tokens += m.input_tokens
            u.output_tokens += m.output_tokens
            u.audio_seconds += m.audio_duration
            u.requests += 1

    def summary(
        self, session_id: str, status: SummaryStatus, end: float, seen: set[int], duplicates: int
    ) -> SessionSummaryV1:
        """Close the open state intervals at ``end`` and build the summary."""
        start = self.started_at if self.started_at is not None else self.first_time
        assert start is not None
        assert self.user_since is not None
        assert self.agent_since is not None
        end = max(end, start)
        user_time = self.user_time.copy()
        user_time[self.user_state] += max(0.0, end - self.user_since)
        agent_time = self.agent_time.copy()
        agent_time[self.agent_state] += max(0.0, end - self.agent_since)
        closed = status == "ended"
        expected = self.last_seq if self.last_seq is not None else max(seen)
        return SessionSummaryV1(
            session_id=session_id,
            agent_name=self.agent_name,
            status=status,
            started_at=_dt(start),
            ended_at=_dt(end),
            duration=end - start,
            close_reason=self.close_reason or self.end_reason,
            events=len(seen),
            duplicates=duplicates,
            missing=expected - sum(1 for s in seen if s <= expected),
            last_seq=self.last_seq,
            user_state_time=UserStateTimesV1.model_validate(dict(user_time)),
            agent_state_time=AgentStateTimesV1.model_validate(dict(agent_time)),
            user_turns=self.counts["user_turns"],
            agent_replies=self.counts["agent_replies"],
            interruptions=self.counts["interruptions"],
            false_interruptions=self.counts["false_interruptions"],
            away_episodes=self.counts["away_episodes"],
            prompts=PromptsV1(
                issued=self.counts["prompts"],
                user_returned=self.counts["prompts_returned"],
                session_closed=self.pending_prompts if closed else 0,
                pending=0 if closed else self.pending_prompts,
                rejected=self.counts["prompts_rejected"],
            ),
            tool_calls=[ToolStatsV1(name=n, calls=v[0], errors=v[1]) for n, v in sorted(self.tools.items())],
            latency=LatenciesV1.model_validate({k: latency(v) for k, v in self.latencies.items()}),
            usage=self._usage_list(),
            usage_source="session_usage" if self.last_usage else "metrics" if self.metric_usage else "none",
            errors=[
                ErrorCountV1(source=s, provider=p, recoverable=r, count=n)
                for (s, p, r), n in sorted(self.errors.items(), key=lambda kv: repr(kv[0]))
            ],
        )

    def _usage_list(self) -> list[UsageV1]:
        if self.last_usage is None:
            rows = [
                UsageV1(
                    kind=kind,
                    provider=provider,
                    model=model,
                    input_tokens=u.input_tokens,
                    output_tokens=u.output_tokens,
                    characters=u.characters,
                    audio_seconds=u.audio_seconds,
                    requests=u.requests,
                )
                for (kind, provider, model), u in self.metric_usage.items()
            ]
        else:
            rows = [_from_model_usage(mu) for mu in self.last_usage.model_usage]
        return sorted(rows, key=lambda u: (u.kind, u.provider, u.model))


def _from_model_usage(mu: a.ModelUsageV1) -> UsageV1:
    if isinstance(mu, a.LLMModelUsageV1):
        return UsageV1(
            kind="llm",
            provider=mu.provider,
            model=mu.model,
            input_tokens=mu.input_tokens,
            output_tokens=mu.output_tokens,
        )
    if isinstance(mu, a.TTSModelUsageV1):
        return UsageV1(
            kind="tts",
            provider=mu.provider,
            model=mu.model,
            input_tokens=mu.input_tokens,
            output_tokens=mu.output_tokens,
            characters=mu.characters_count,
            audio_seconds=mu.audio_duration,
        )
    if isinstance(mu, a.STTModelUsageV1):
        return UsageV1(
            kind="stt",
            provider=mu.provider,
            model=mu.model,
            input_tokens=mu.input_tokens,
            output_tokens=mu.output_tokens,
            audio_seconds=mu.audio_duration,
        )
    kind: UsageKind = "interruption" if isinstance(mu, a.InterruptionModelUsageV1) else "eot"
    return UsageV1(kind=kind, provider=mu.provider, model=mu.model, requests=mu.total_requests)


_ON_PAYLOAD: ByPayloadType[Callable[[_Fold, Any, float], None]] = ByPayloadType(
    {
        a.UserStateChangedV1: _Fold._user_state,
        a.AgentStateChangedV1: _Fold._agent_state,
        a.ConversationItemAddedV1: _Fold._conversation_item,
        a.AgentFalseInterruptionV1: _Fold._false_interruption,
        a.FunctionToolsExecutedV1: _Fold._tools_executed,
        a.MetricsCollectedV1: _Fold._metrics_collected,
        a.SessionUsageUpdatedV1: _Fold._usage_updated,
        a.ErrorV1: _Fold._error,
        a.CloseV1: _Fold._close,
        lc.SessionStartedV1: _Fold._session_started,
        lc.SessionEndedV1: _Fold._session_ended,
        c.CommandExecutedV1: _Fold._command_executed,
        c.CommandRejectedV1: _Fold._command_rejected,
    },
    default=_Fold._ignore,
)
"""What each payload type does to a session's fold; other payloads leave it as it is."""


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class SessionAccumulator:
    """The incremental summary of one session.

    ``add`` drops duplicate ``seq``s and buffers events that arrive ahead of a gap; once
    the buffer holds ``max_buffer`` events, the gap is skipped and they are applied. An
    event behind a skipped gap is applied late (counts stay exact; state times may not).
    """

    def __init__(self, session_id: str | None = None, *, max_buffer: int = 10_000) -> None:
        self.session_id = session_id
        self.max_buffer = max_buffer
        self.duplicates = 0
        self._fold = _Fold()
        self._seen: set[int] = set()
        self._buffer: dict[int, Event] = {}
        self._next = 1
        self._last_time: datetime | None = None
        self._end_seen = False
        self._last_seq: int | None = None

    def add(self, event: Event) -> bool:
        """Take one event; False when it is ignored (a duplicate, or no ``seq``)."""
        if event.seq is None:
            return False
        if self.session_id is None:
            self.session_id = event.session_id
        elif event.session_id != self.session_id:
            raise SessionMismatchError("an event of another session reached this session's accumulator")
        seq = event.seq
        if seq in self._seen:
            self.duplicates += 1
            return False
        self._seen.add(seq)
        if self._last_time is None or event.time > self._last_time:
            self._last_time = event.time
        if isinstance(event.data, (a.CloseV1, lc.SessionEndedV1)):
            self._end_seen = True
            if isinstance(event.data, lc.SessionEndedV1):
                self._last_seq = event.data.last_seq
        if seq < self._next:
            self._fold.apply(event)
        elif seq > self._next:
            self._buffer[seq] = event
            if len(self._buffer) > self.max_buffer:
                self._drain(self._fold, self._buffer)
                self._next = max(self._seen) + 1
                self._buffer.clear()
        else:
            self._fold.apply(event)
            self._next += 1
            while self._next in self._buffer:
                self._fold.apply(self._buffer.pop(self._next))
                self._next += 1
        return True

    @staticmethod
    def _drain(fold: _Fold, buffer: dict[int, Event]) -> None:
        for seq in sorted(buffer):
            fold.apply(buffer[seq])

    @property
    def ended(self) -> bool:
        """A close or ``lkbus.session.ended`` was received (maybe still behind a gap)."""
        return self._end_seen

    @property
    def complete(self) -> bool:
        """``lkbus.session.ended`` was received and every ``seq`` up to its ``last_seq`` too."""
        last = self._last_seq
        return last is not None and self._next > last

    @property
    def last_event_time(self) -> datetime | None:
        """The latest event time received."""
        return self._last_time

    def is_idle(self, now: datetime, idle_timeout_s: float) -> bool:
        """Not ended, and no event time within ``idle_timeout_s`` of ``now``."""
        if self._end_seen or self._last_time is None:
            return False
        return (now - self._last_time).total_seconds() >= idle_timeout_s

    def summary(self, now: datetime | None = None, *, idle_timeout_s: float | None = None) -> SessionSummary:
        """The summary so far (buffered events included, in ``seq`` order).

        An ended session ends at its close; one idle for ``idle_timeout_s`` (given ``now``)
        ends at its last event with status ``idle_timeout``; any other is ``open`` until ``now``
        (or its last event when ``now`` is None).
        """
        if self.session_id is None or self._last_time is None:
            raise AnalyticsError("cannot summarise a session without events")
        fold = self._fold
        if self._buffer:
            fold = copy.deepcopy(fold)
            self._drain(fold, self._buffer)
        last = self._last_time.timestamp()
        status: SummaryStatus
        if fold.ended:
            status = "ended"
            end = fold.closed_at if fold.closed_at is not None else fold.ended_at
            assert end is not None
        elif now is not None and idle_timeout_s is not None and self.is_idle(now, idle_timeout_s):
            status, end = "idle_timeout", last
        else:
            status, end = "open", last if now is None else max(last, now.timestamp())
        return fold.summary(self.session_id, status, end, self._seen, self.duplicates)


def fold_session(
    events: Iterable[Event], *, now: datetime | None = None, idle_timeout_s: float | None = None
) -> SessionSummary:
    """The summary of one session's events, in any order, duplicates dropped."""
    acc = SessionAccumulator()
    for event in events:
        acc.add(event)
    return acc.summary(now, idle_timeout_s=idle_timeout_s)
