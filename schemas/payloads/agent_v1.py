"""Version 1 payloads of the AgentSession events (livekit-agents 1.8.x)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from schemas.payloads.base import Payload, WireModel

UserState = Literal["speaking", "listening", "away"]
AgentState = Literal["initializing", "idle", "listening", "thinking", "speaking"]
ChatRole = Literal["developer", "system", "user", "assistant"]
CloseReason = Literal["error", "job_shutdown", "participant_disconnected", "user_initiated", "task_completed"]


class UserStateChangedV1(Payload):
    """The user's state changed (``away`` after ``user_away_timeout`` of mutual silence)."""

    old_state: UserState
    new_state: UserState


class AgentStateChangedV1(Payload):
    """The agent's state changed."""

    old_state: AgentState
    new_state: AgentState


class UserInputTranscribedV1(Payload):
    """An interim or final STT transcript of the user. ``transcript`` is None when redacted."""

    transcript: str | None
    is_final: bool
    item_id: str | None = None
    speaker_id: str | None = None
    language: str | None = None


class UserTranscriptionTimeoutV1(Payload):
    """VAD heard speech but no transcript came within ``transcription_timeout``."""

    speech_duration: float
    vad_speech_started_at: float


class TextContentV1(WireModel):
    """Text of a chat message. ``text`` is None when redacted."""

    type: Literal["text"] = "text"
    text: str | None


class MediaRefV1(WireModel):
    """Image or audio content, replaced by a reference: the media itself never travels."""

    type: Literal["media_ref"] = "media_ref"
    kind: Literal["image", "audio"]
    id: str | None = None
    mime_type: str | None = None
    size: int | None = None
    """Bytes of the inline data or frames; None for a remote URL."""
    source: Literal["url", "data_url", "video_frame", "audio_frames"]
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    """Seconds of audio."""
    transcript: str | None = None


class CacheBreakpointV1(WireModel):
    """A prompt-cache marker inside a message's content."""

    type: Literal["cache_breakpoint"] = "cache_breakpoint"


ChatContentV1 = Annotated[TextContentV1 | MediaRefV1 | CacheBreakpointV1, Field(discriminator="type")]


class MetadataV1(WireModel):
    """Provider and model a metric or usage entry is about."""

    model_name: str | None = None
    model_provider: str | None = None


class ChatMessageMetricsV1(WireModel):
    """``ChatMessage.metrics``: every key optional, as in the SDK's ``MetricsReport``."""

    started_speaking_at: float | None = None
    stopped_speaking_at: float | None = None
    transcription_delay: float | None = None
    end_of_turn_delay: float | None = None
    on_user_turn_completed_delay: float | None = None
    llm_node_ttft: float | None = None
    llm_node_tps: float | None = None
    llm_node_ttfs: float | None = None
    tts_node_ttfb: float | None = None
    playback_latency: float | None = None
    e2e_latency: float | None = None
    provider_request_ids: list[str] | None = None
    llm_metadata: MetadataV1 | None = None
    tts_metadata: MetadataV1 | None = None
    stt_metadata: MetadataV1 | None = None


class ChatMessageItemV1(WireModel):
    """A chat message added to the conversation."""

    type: Literal["message"] = "message"
    id: str
    role: ChatRole
    content: list[ChatContentV1]
    interrupted: bool = False
    transcript_confidence: float | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    metrics: ChatMessageMetricsV1 = Field(default_factory=ChatMessageMetricsV1)
    created_at: float


class AgentHandoffItemV1(WireModel):
    """The active agent changed (also emitted for the first agent)."""

    type: Literal["agent_handoff"] = "agent_handoff"
    id: str
    old_agent_id: str | None = None
    new_agent_id: str
    created_at: float


class ConversationItemAddedV1(Payload):
    """An item was committed to the chat context."""

    item: Annotated[ChatMessageItemV1 | AgentHandoffItemV1, Field(discriminator="type")]


class AgentFalseInterruptionV1(Payload):
    """An interruption turned out to be false; ``resumed`` if speech resumed by itself."""

    resumed: bool


class OverlappingSpeechV1(Payload):
    """The interruption detector judged user speech that overlapped the agent's."""

    detected_at: float
    is_interruption: bool = False
    agent_ended: bool = False
    total_duration: float = 0.0
    prediction_duration: float = 0.0
    detection_delay: float = 0.0
    overlap_started_at: float | None = None
    probability: float = 0.0
    num_requests: int = 0


class FunctionCallV1(WireModel):
    """A tool call requested by the model."""

    id: str
    call_id: str
    name: str
    arguments: str
    created_at: float
    extra: dict[str, Any] = Field(default_factory=dict)
    group_id: str | None = None


class FunctionCallOutputV1(WireModel):
    """The result of one tool call."""

    id: str
    call_id: str
    name: str = ""
    output: str
    is_error: bool
    created_at: float
    reply_required: bool = True


class FunctionToolsExecutedV1(Payload):
    """A batch of tools finished; both lists are parallel (same index, same ``call_id``)."""

    function_calls: list[FunctionCallV1]
    function_call_outputs: list[FunctionCallOutputV1]


class LLMMetricsV1(WireModel):
    type: Literal["llm_metrics"] = "llm_metrics"
    label: str
    request_id: str
    timestamp: float
    duration: float
    ttft: float
    cancelled: bool
    completion_tokens: int
    prompt_tokens: int
    prompt_cached_tokens: int
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int
    tokens_per_second: float
    speech_id: str | None = None
    metadata: MetadataV1 | None = None


class DecisionMetricsV1(WireModel):
    type: Literal["decision_metrics"] = "decision_metrics"
    label: str
    request_id: str
    timestamp: float
    duration: float
    input_tokens: int | None = None
    output_tokens: int | None = None
    metadata: MetadataV1 | None = None


class STTMetricsV1(WireModel):
    type: Literal["stt_metrics"] = "stt_metrics"
    label: str
    request_id: str
    timestamp: float
    duration: float
    audio_duration: float
    streamed: bool
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_audio_tokens: int = 0
    acquire_time: float = 0.0
    connection_reused: bool = False
    metadata: MetadataV1 | None = None


class TTSMetricsV1(WireModel):
    type: Literal["tts_metrics"] = "tts_metrics"
    label: str
    request_id: str
    timestamp: float
    ttfb: float
    duration: float
    audio_duration: float
    cancelled: bool
    characters_count: int
    input_tokens: int = 0
    output_tokens: int = 0
    streamed: bool
    acquire_time: float = 0.0
    connection_reused: bool = False
    segment_id: str | None = None
    speech_id: str | None = None
    metadata: MetadataV1 | None = None


class VADMetricsV1(WireModel):
    type: Literal["vad_metrics"] = "vad_metrics"
    label: str
    timestamp: float
    idle_time: float
    inference_duration_total: float
    inference_count: int
    metadata: MetadataV1 | None = None


class EOUMetricsV1(WireModel):
    type: Literal["eou_metrics"] = "eou_metrics"
    timestamp: float
    end_of_utterance_delay: float
    transcription_delay: float
    on_user_turn_completed_delay: float
    speech_id: str | None = None
    metadata: MetadataV1 | None = None


class EOTInferenceMetricsV1(WireModel):
    type: Literal["eot_inference_metrics"] = "eot_inference_metrics"
    timestamp: float
    total_duration: float
    detection_delay: float
    prediction_duration: float
    num_requests: int = 1
    metadata: MetadataV1 | None = None


class CachedTokenDetailsV1(WireModel):
    audio_tokens: int = 0
    text_tokens: int = 0
    image_tokens: int = 0


class InputTokenDetailsV1(WireModel):
    audio_tokens: int = 0
    text_tokens: int = 0
    image_tokens: int = 0
    cached_tokens: int = 0
    cached_tokens_details: CachedTokenDetailsV1 | None = None


class OutputTokenDetailsV1(WireModel):
    text_tokens: int = 0
    audio_tokens: int = 0
    image_tokens: int = 0


class RealtimeModelMetricsV1(WireModel):
    type: Literal["realtime_model_metrics"] = "realtime_model_metrics"
    label: str = ""
    request_id: str
    timestamp: float
    duration: float = 0.0
    session_duration: float = 0.0
    ttft: float = -1
    cancelled: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    tokens_per_second: float = 0.0
    input_token_details: InputTokenDetailsV1
    output_token_details: OutputTokenDetailsV1
    acquire_time: float = 0.0
    connection_reused: bool = False
    metadata: MetadataV1 | None = None


class InterruptionMetricsV1(WireModel):
    type: Literal["interruption_metrics"] = "interruption_metrics"
    timestamp: float
    total_duration: float
    prediction_duration: float
    detection_delay: float
    num_interruptions: int
    num_backchannels: int
    num_requests: int
    metadata: MetadataV1 | None = None


class AvatarMetricsV1(WireModel):
    type: Literal["avatar_metrics"] = "avatar_metrics"
    timestamp: float
    playback_latency: float = 0
    session_started_time: float | None = None
    avatar_joined_time: float | None = None
    metadata: MetadataV1 | None = None


AgentMetricsV1 = Annotated[
    LLMMetricsV1
    | DecisionMetricsV1
    | STTMetricsV1
    | TTSMetricsV1
    | VADMetricsV1
    | EOUMetricsV1
    | EOTInferenceMetricsV1
    | RealtimeModelMetricsV1
    | InterruptionMetricsV1
    | AvatarMetricsV1,
    Field(discriminator="type"),
]


class MetricsCollectedV1(Payload):
    """One metrics report (deprecated by the SDK in favour of session_usage_updated)."""

    metrics: AgentMetricsV1


class LLMModelUsageV1(WireModel):
    type: Literal["llm_usage"] = "llm_usage"
    provider: str
    model: str
    input_tokens: int = 0
    input_cached_tokens: int = 0
    input_cache_creation_tokens: int = 0
    input_audio_tokens: int = 0
    input_cached_audio_tokens: int = 0
    input_text_tokens: int = 0
    input_cached_text_tokens: int = 0
    input_image_tokens: int = 0
    input_cached_image_tokens: int = 0
    output_tokens: int = 0
    output_audio_tokens: int = 0
    output_text_tokens: int = 0
    output_reasoning_tokens: int = 0
    session_duration: float = 0.0


class TTSModelUsageV1(WireModel):
    type: Literal["tts_usage"] = "tts_usage"
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    characters_count: int = 0
    audio_duration: float = 0.0


class STTModelUsageV1(WireModel):
    type: Literal["stt_usage"] = "stt_usage"
    provider: str
    model: str
    input_tokens: int = 0
    input_audio_tokens: int = 0
    output_tokens: int = 0
    audio_duration: float = 0.0


class InterruptionModelUsageV1(WireModel):
    type: Literal["interruption_usage"] = "interruption_usage"
    provider: str
    model: str
    total_requests: int = 0


class EOTModelUsageV1(WireModel):
    type: Literal["eot_usage"] = "eot_usage"
    provider: str
    model: str
    total_requests: int = 0


ModelUsageV1 = Annotated[
    LLMModelUsageV1 | TTSModelUsageV1 | STTModelUsageV1 | InterruptionModelUsageV1 | EOTModelUsageV1,
    Field(discriminator="type"),
]


class SessionUsageV1(WireModel):
    model_usage: list[ModelUsageV1]


class SessionUsageUpdatedV1(Payload):
    """Cumulative usage per provider and model."""

    usage: SessionUsageV1


class SpeechCreatedV1(Payload):
    """The agent scheduled a speech; ``speech_id`` identifies it in later events."""

    user_initiated: bool
    source: Literal["say", "generate_reply"]
    speech_id: str


class ToolCallStartedV1(WireModel):
    type: Literal["tool_call_started"] = "tool_call_started"
    function_call: FunctionCallV1


class ToolCallUpdatedV1(WireModel):
    type: Literal["tool_call_updated"] = "tool_call_updated"
    id: str
    call_id: str
    message: str
    silent: bool = False


class ToolCallEndedV1(WireModel):
    type: Literal["tool_call_ended"] = "tool_call_ended"
    id: str
    call_id: str
    message: str | None = None
    status: Literal["done", "error", "cancelled"]


class ToolReplyUpdatedV1(WireModel):
    type: Literal["tool_reply_updated"] = "tool_reply_updated"
    update_ids: list[str]
    status: Literal["scheduled", "completed", "interrupted", "skipped"]
    speech_id: str


class ToolExecutionUpdatedV1(Payload):
    """One step of a tool call's lifecycle."""

    update: Annotated[
        ToolCallStartedV1 | ToolCallUpdatedV1 | ToolCallEndedV1 | ToolReplyUpdatedV1,
        Field(discriminator="type"),
    ]


class ExceptionInfoV1(WireModel):
    """An exception reduced to its class and message."""

    class_name: str
    message: str


class ErrorDetailV1(WireModel):
    """A model error (``llm_error``, ``stt_error``, ...) or ``unknown`` for anything else."""

    type: str
    label: str | None = None
    timestamp: float | None = None
    recoverable: bool | None = None
    exception: ExceptionInfoV1 | None = None


class ErrorSourceV1(WireModel):
    """The component that raised an error."""

    kind: Literal["llm", "stt", "tts", "realtime_model", "interruption_detector", "other"]
    class_name: str
    provider: str | None = None
    model: str | None = None


class ErrorV1(Payload):
    """A component failed (recoverable retries are reported too)."""

    error: ErrorDetailV1
    source: ErrorSourceV1


class CloseV1(Payload):
    """The session closed."""

    reason: CloseReason
    error: ErrorDetailV1 | None = None


EVENTS: dict[str, type[Payload]] = {
    "livekit.agent.user_state_changed": UserStateChangedV1,
    "livekit.agent.agent_state_changed": AgentStateChangedV1,
    "livekit.agent.user_input_transcribed": UserInputTranscribedV1,
    "livekit.agent.user_transcription_timeout": UserTranscriptionTimeoutV1,
    "livekit.agent.conversation_item_added": ConversationItemAddedV1,
    "livekit.agent.agent_false_interruption": AgentFalseInterruptionV1,
    "livekit.agent.overlapping_speech": OverlappingSpeechV1,
    "livekit.agent.function_tools_executed": FunctionToolsExecutedV1,
    "livekit.agent.metrics_collected": MetricsCollectedV1,
    "livekit.agent.session_usage_updated": SessionUsageUpdatedV1,
    "livekit.agent.speech_created": SpeechCreatedV1,
    "livekit.agent.tool_execution_updated": ToolExecutionUpdatedV1,
    "livekit.agent.error": ErrorV1,
    "livekit.agent.close": CloseV1,
}
"""Event type name to its version 1 payload model."""
