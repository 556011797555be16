"""Version 1 payloads of the analytics consumer's output: one summary per session.

A summary record's envelope ``seq`` is the summary's revision (1 for the first one; a
session summarised again, e.g. after late events, gets the next revision). The newest
revision replaces the older ones. Summaries carry no transcripts and no identities.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.payloads.base import Payload, WireModel

SummaryStatus = Literal["ended", "idle_timeout", "open"]
"""``ended``: a close or ``lkbus.session.ended`` was seen; ``idle_timeout``: no event for the
idle timeout and no close (the agent died); ``open``: summarised while still running."""
UsageKind = Literal["llm", "tts", "stt", "interruption", "eot"]


class LatencyV1(WireModel):
    """One latency distribution in seconds; percentiles are nearest-rank, None when empty."""

    count: int = 0
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max: float | None = None
    samples: list[float] = Field(default_factory=list)
    """Every observation in event order, so that reports can pool sessions exactly."""


class LatenciesV1(WireModel):
    """The latency distributions of one session."""

    end_of_utterance: LatencyV1 = Field(default_factory=LatencyV1)
    """``eou_metrics.end_of_utterance_delay``."""
    transcription: LatencyV1 = Field(default_factory=LatencyV1)
    """``eou_metrics.transcription_delay``."""
    llm_ttft: LatencyV1 = Field(default_factory=LatencyV1)
    """``llm_metrics.ttft`` (and realtime models' ``ttft``), negative values left out."""
    tts_ttfb: LatencyV1 = Field(default_factory=LatencyV1)
    """``tts_metrics.ttfb``, negative values left out."""
    response: LatencyV1 = Field(default_factory=LatencyV1)
    """User stopped speaking (user state leaves ``speaking``) to agent state ``speaking``."""


class UserStateTimesV1(WireModel):
    """Seconds spent in each user state (the SDK starts every session in ``listening``)."""

    speaking: float = 0.0
    listening: float = 0.0
    away: float = 0.0


class AgentStateTimesV1(WireModel):
    """Seconds spent in each agent state (the SDK starts every session in ``initializing``)."""

    initializing: float = 0.0
    idle: float = 0.0
    listening: float = 0.0
    thinking: float = 0.0
    speaking: float = 0.0


class PromptsV1(WireModel):
    """``prompt_user`` commands and what followed each executed one."""

    issued: int = 0
    """Executed ``prompt_user`` commands."""
    user_returned: int = 0
    """Followed by the user coming back (user state ``speaking`` or leaving ``away``)."""
    session_closed: int = 0
    """Followed by the end of the session with no return."""
    pending: int = 0
    """Neither yet (the session is still open or timed out idle)."""
    rejected: int = 0
    """``prompt_user`` commands the agent did not run."""


class ToolStatsV1(WireModel):
    """Calls of one tool and how many of them returned an error."""

    name: str
    calls: int = 0
    errors: int = 0


class UsageV1(WireModel):
    """Usage of one model; ``audio_seconds`` is TTS output or STT input audio."""

    kind: UsageKind
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    characters: int = 0
    audio_seconds: float = 0.0
    requests: int = 0


class ErrorCountV1(WireModel):
    """Errors from one source kind and provider with one recoverability."""

    source: str
    provider: str | None = None
    recoverable: bool | None = None
    count: int = 0


class SessionSummaryV1(Payload):
    """What happened in one agent session: times, turns, prompts, tools, latencies, usage."""

    session_id: str = Field(min_length=1)
    agent_name: str | None = None
    status: SummaryStatus
    started_at: AwareDatetime
    ended_at: AwareDatetime
    """The close (or session end) time; the last event's time for an idle or open session."""
    duration: float
    """Seconds from ``started_at`` to ``ended_at``."""
    close_reason: str | None = None
    """The SDK close reason, else the producer's end reason, else None."""
    events: int = 0
    """Distinct events folded (by ``seq``)."""
    duplicates: int = 0
    """Events dropped because their ``seq`` was already seen."""
    missing: int = 0
    """``seq`` numbers never seen up to the last one (``last_seq`` when known)."""
    last_seq: int | None = None
    user_state_time: UserStateTimesV1 = Field(default_factory=UserStateTimesV1)
    agent_state_time: AgentStateTimesV1 = Field(default_factory=AgentStateTimesV1)
    user_turns: int = 0
    """User messages added to the conversation."""
    agent_replies: int = 0
    """Assistant messages added to the conversation."""
    interruptions: int = 0
    """Assistant messages marked interrupted."""
    false_interruptions: int = 0
    away_episodes: int = 0
    prompts: PromptsV1 = Field(default_factory=PromptsV1)
    tool_calls: list[ToolStatsV1] = Field(default_factory=list)
    """Sorted by tool name."""
    latency: LatenciesV1 = Field(default_factory=LatenciesV1)
    usage: list[UsageV1] = Field(default_factory=list)
    """Sorted by kind, provider, model."""
    usage_source: Literal["session_usage", "metrics", "none"] = "none"
    """The last ``session_usage_updated`` (cumulative), else summed metrics, else nothing."""
    errors: list[ErrorCountV1] = Field(default_factory=list)
    """Sorted by source, provider, recoverability."""


EVENTS: dict[str, type[Payload]] = {
    "lkbus.analytics.session_summary": SessionSummaryV1,
}
"""Event type name to its version 1 payload model."""
