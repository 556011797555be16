"""SDK event objects with every field set to a non-default value, for round-trip tests."""

from __future__ import annotations

from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents.inference.interruption import InterruptionDetectionError, OverlappingSpeechEvent
from livekit.agents.llm import (
    AgentHandoff,
    ChatMessage,
    FunctionCall,
    FunctionCallOutput,
    LLMError,
    RealtimeModelError,
)
from livekit.agents.llm.chat_context import AudioContent, CacheBreakpoint, ImageContent
from livekit.agents.metrics.base import (
    AvatarMetrics,
    DecisionMetrics,
    EOTInferenceMetrics,
    EOUMetrics,
    InterruptionMetrics,
    LLMMetrics,
    Metadata,
    RealtimeModelMetrics,
    STTMetrics,
    TTSMetrics,
    VADMetrics,
)
from livekit.agents.metrics.usage import (
    AgentSessionUsage,
    EOTModelUsage,
    InterruptionModelUsage,
    LLMModelUsage,
    ModelUsage,
    STTModelUsage,
    TTSModelUsage,
)
from livekit.agents.stt import STTError
from livekit.agents.tts import TTSError
from livekit.agents.voice import events as ev
from livekit.agents.voice.speech_handle import SpeechHandle
from livekit.rtc._proto import e2ee_pb2, participant_pb2, room_pb2, track_pb2
from pydantic import BaseModel

T0 = 1_767_225_600.123456
META = Metadata(model_name="gpt-x", model_provider="acme")


def _handle() -> SpeechHandle:
    handle = SpeechHandle.__new__(SpeechHandle)
    handle._id = "speech_abc"
    return handle


def chat_message() -> ChatMessage:
    return ChatMessage(
        id="item_1",
        role="assistant",
        content=[
            "hello there",
            ImageContent(
                id="img_1",
                image="data:image/png;base64,AAAABBBB",
                inference_width=64,
                inference_height=48,
                inference_detail="high",
                mime_type="image/png",
            ),
            ImageContent(id="img_2", image=rtc.VideoFrame(2, 2, rtc.VideoBufferType.RGBA, bytes(16))),
            AudioContent(frame=[rtc.AudioFrame.create(16000, 1, 160)], transcript="spoken words"),
            CacheBreakpoint(),
        ],
        interrupted=True,
        transcript_confidence=0.75,
        extra={"k": "v", "n": 2},
        metrics={
            "started_speaking_at": T0,
            "stopped_speaking_at": T0 + 1,
            "transcription_delay": 0.1,
            "end_of_turn_delay": 0.2,
            "on_user_turn_completed_delay": 0.3,
            "llm_node_ttft": 0.4,
            "llm_node_tps": 50.0,
            "llm_node_ttfs": 0.5,
            "tts_node_ttfb": 0.6,
            "playback_latency": 0.01,
            "e2e_latency": 0.9,
            "provider_request_ids": ["req_1", "req_2"],
            "llm_metadata": {"model_name": "m", "model_provider": "p"},
            "tts_metadata": {"model_name": "t", "model_provider": "q"},
            "stt_metadata": {"model_name": "s", "model_provider": "r"},
        },
        created_at=T0 - 5,
    )


def function_call() -> FunctionCall:
    return FunctionCall(
        id="item_fc",
        call_id="call_1",
        arguments='{"city": "Paris"}',
        name="get_weather",
        created_at=T0 - 3,
        extra={"google": {"sig": "x"}},
        group_id="grp_1",
    )


def function_call_output() -> FunctionCallOutput:
    return FunctionCallOutput(
        id="item_fo",
        name="get_weather",
        call_id="call_1",
        output="sunny",
        is_error=True,
        created_at=T0 - 2,
        reply_required=False,
    )


METRICS: list[BaseModel] = [
    LLMMetrics(
        label="l",
        request_id="r",
        timestamp=T0,
        duration=1.5,
        ttft=0.2,
        cancelled=True,
        completion_tokens=10,
        prompt_tokens=20,
        prompt_cached_tokens=5,
        cache_creation_tokens=3,
        reasoning_tokens=2,
        total_tokens=30,
        tokens_per_second=12.5,
        speech_id="speech_1",
        metadata=META,
    ),
    DecisionMetrics(
        label="d", request_id="r", timestamp=T0, duration=0.3, input_tokens=4, output_tokens=5, metadata=META
    ),
    STTMetrics(
        label="s",
        request_id="r",
        timestamp=T0,
        duration=0.5,
        audio_duration=2.0,
        streamed=True,
        input_tokens=1,
        output_tokens=2,
        total_tokens=7,
        input_audio_tokens=1,
        acquire_time=0.05,
        connection_reused=True,
        metadata=META,
    ),
    TTSMetrics(
        label="t",
        request_id="r",
        timestamp=T0,
        ttfb=0.1,
        duration=0.8,
        audio_duration=3.0,
        cancelled=True,
        characters_count=42,
        input_tokens=3,
        output_tokens=4,
        streamed=True,
        acquire_time=0.02,
        connection_reused=True,
        segment_id="seg",
        speech_id="speech_2",
        metadata=META,
    ),
    VADMetrics(
        label="v", timestamp=T0, idle_time=0.4, inference_duration_total=0.2, inference_count=9, metadata=META
    ),
    EOUMetrics(
        timestamp=T0,
        end_of_utterance_delay=0.3,
        transcription_delay=0.2,
        on_user_turn_completed_delay=0.1,
        speech_id="speech_3",
        metadata=META,
    ),
    EOTInferenceMetrics(
        timestamp=T0,
        total_duration=0.3,
        detection_delay=0.2,
        prediction_duration=0.1,
        num_requests=3,
        metadata=META,
    ),
    RealtimeModelMetrics(
        label="rt",
        request_id="r",
        timestamp=T0,
        duration=2.0,
        session_duration=60.0,
        ttft=0.3,
        cancelled=True,
        input_tokens=10,
        output_tokens=20,
        total_tokens=30,
        tokens_per_second=9.0,
        input_token_details=RealtimeModelMetrics.InputTokenDetails(
            audio_tokens=1,
            text_tokens=2,
            image_tokens=3,
            cached_tokens=4,
            cached_tokens_details=RealtimeModelMetrics.CachedTokenDetails(
                audio_tokens=5, text_tokens=6, image_tokens=7
            ),
        ),
        output_token_details=RealtimeModelMetrics.OutputTokenDetails(
            text_tokens=8, audio_tokens=9, image_tokens=1
        ),
        acquire_time=0.1,
        connection_reused=True,
        metadata=META,
    ),
    InterruptionMetrics(
        timestamp=T0,
        total_duration=0.2,
        prediction_duration=0.1,
        detection_delay=0.3,
        num_interruptions=2,
        num_backchannels=3,
        num_requests=4,
        metadata=META,
    ),
    AvatarMetrics(
        timestamp=T0,
        playback_latency=0.2,
        session_started_time=T0 - 9,
        avatar_joined_time=T0 - 8,
        metadata=META,
    ),
]

USAGE: list[ModelUsage] = [
    LLMModelUsage(
        provider="p",
        model="m",
        input_tokens=1,
        input_cached_tokens=2,
        input_cache_creation_tokens=3,
        input_audio_tokens=4,
        input_cached_audio_tokens=5,
        input_text_tokens=6,
        input_cached_text_tokens=7,
        input_image_tokens=8,
        input_cached_image_tokens=9,
        output_tokens=10,
        output_audio_tokens=11,
        output_text_tokens=12,
        output_reasoning_tokens=13,
        session_duration=14.5,
    ),
    TTSModelUsage(
        provider="p", model="t", input_tokens=1, output_tokens=2, characters_count=3, audio_duration=4.5
    ),
    STTModelUsage(
        provider="p", model="s", input_tokens=1, input_audio_tokens=2, output_tokens=3, audio_duration=4.5
    ),
    InterruptionModelUsage(provider="p", model="i", total_requests=7),
    EOTModelUsage(provider="p", model="e", total_requests=8),
]

TOOL_UPDATES: list[BaseModel] = [
    ev.ToolCallStarted(function_call=function_call()),
    ev.ToolCallUpdated(id="call_1_update_1", call_id="call_1", message="still looking", silent=True),
    ev.ToolCallEnded(id="call_1_final", call_id="call_1", message="done it", status="error"),
    ev.ToolReplyUpdated(update_ids=["u1", "u2"], status="interrupted", speech_id="speech_9"),
]

ERRORS: list[BaseModel] = [
    LLMError(timestamp=T0, label="llm", error=ValueError("bad llm"), recoverable=True),
    STTError(timestamp=T0, label="stt", error=RuntimeError("bad stt"), recoverable=True),
    TTSError(timestamp=T0, label="tts", error=TimeoutError("bad tts"), recoverable=True),
    RealtimeModelError(timestamp=T0, label="rt", error=ConnectionError("bad rt"), recoverable=True),
    InterruptionDetectionError(timestamp=T0, label="int", error=OSError("bad int"), recoverable=True),
]


def agent_events() -> list[BaseModel]:
    """One instance per AgentSession event class (several for the union-typed fields)."""
    events: list[BaseModel] = [
        ev.UserStateChangedEvent(old_state="speaking", new_state="away", created_at=T0),
        ev.AgentStateChangedEvent(old_state="thinking", new_state="speaking", created_at=T0),
        ev.UserInputTranscribedEvent(
            transcript="hello world",
            is_final=True,
            item_id="it_1",
            speaker_id="spk_1",
            language="fr",
            created_at=T0,
        ),
        ev.UserTranscriptionTimeoutEvent(speech_duration=1.25, vad_speech_started_at=T0 - 2, created_at=T0),
        ev.ConversationItemAddedEvent(item=chat_message(), created_at=T0),
        ev.ConversationItemAddedEvent(
            item=AgentHandoff(id="item_h", old_agent_id="a1", new_agent_id="a2", created_at=T0 - 1),
            created_at=T0,
        ),
        ev.AgentFalseInterruptionEvent(
            resumed=True, created_at=T0, message=chat_message(), extra_instructions="resume"
        ),
        OverlappingSpeechEvent(
            created_at=T0,
            detected_at=T0 - 0.5,
            is_interruption=True,
            agent_ended=True,
            total_duration=0.3,
            prediction_duration=0.2,
            detection_delay=0.1,
            overlap_started_at=T0 - 1,
            probability=0.9,
            num_requests=4,
            speech_input=np.zeros(4, dtype=np.int16),
            probabilities=np.ones(2, dtype=np.float32),
        ),
        ev.FunctionToolsExecutedEvent(
            function_calls=[function_call()], function_call_outputs=[function_call_output()], created_at=T0
        ),
        ev.SpeechCreatedEvent(
            user_initiated=True, source="generate_reply", speech_handle=_handle(), created_at=T0
        ),
        ev.SessionUsageUpdatedEvent(usage=AgentSessionUsage(model_usage=list(USAGE)), created_at=T0),
        ev.CloseEvent(error=ERRORS[0], reason=ev.CloseReason.PARTICIPANT_DISCONNECTED, created_at=T0),
    ]
    events += [ev.MetricsCollectedEvent(metrics=m, created_at=T0) for m in METRICS]
    events += [ev.ToolExecutionUpdatedEvent(update=u, created_at=T0) for u in TOOL_UPDATES]
    events += [ev.ErrorEvent(error=e, source=object(), created_at=T0) for e in ERRORS]
    return events


def participant(
    identity: str = "user_1",
    kind: participant_pb2.ParticipantKind.ValueType = participant_pb2.PARTICIPANT_KIND_SIP,
) -> rtc.RemoteParticipant:
    """A RemoteParticipant built without the FFI."""
    p = rtc.RemoteParticipant.__new__(rtc.RemoteParticipant)
    info = participant_pb2.ParticipantInfo(
        sid="PA_" + identity,
        name="Name " + identity,
        identity=identity,
        state=participant_pb2.PARTICIPANT_STATE_ACTIVE,
        metadata='{"m": 1}',
        kind=kind,
        disconnect_reason=participant_pb2.CLIENT_INITIATED,
        joined_at=1_767_225_600_000,
        kind_details=[participant_pb2.PARTICIPANT_KIND_DETAIL_CONNECTOR_TWILIO],
    )
    info.attributes["lang"] = "fr"
    info.permission.CopyFrom(
        participant_pb2.ParticipantPermission(
            can_subscribe=True,
            can_publish=True,
            can_publish_data=True,
            can_publish_sources=[track_pb2.SOURCE_MICROPHONE],
            hidden=True,
            can_update_metadata=True,
            can_subscribe_metrics=True,
            can_manage_agent_session=True,
        )
    )
    p._info = info
    p._track_publications = {}
    return p


def publication() -> rtc.RemoteTrackPublication:
    pub = rtc.RemoteTrackPublication.__new__(rtc.RemoteTrackPublication)
    pub._info = track_pb2.TrackPublicationInfo(
        sid="TR_1",
        name="mic",
        kind=track_pb2.KIND_AUDIO,
        source=track_pb2.SOURCE_MICROPHONE,
        simulcasted=True,
        width=1,
        height=2,
        mime_type="audio/opus",
        muted=True,
        remote=True,
        encryption_type=e2ee_pb2.GCM,
    )
    pub._track = None
    pub._subscribed = True
    return pub


def track() -> rtc.RemoteAudioTrack:
    t = rtc.RemoteAudioTrack.__new__(rtc.RemoteAudioTrack)
    t._info = track_pb2.TrackInfo(sid="TR_1", name="mic", kind=track_pb2.KIND_AUDIO, muted=True, remote=True)
    return t


def room_events() -> list[tuple[str, tuple[Any, ...]]]:
    """(event name, callback args) for every supported rtc Room event."""
    p = participant()
    pub = publication()
    segment = rtc.TranscriptionSegment(
        id="seg_1", text="bonjour", start_time=10, end_time=20, language="fr", final=True
    )
    return [
        ("participant_connected", (p,)),
        ("participant_disconnected", (p,)),
        ("participant_active", (p,)),
        ("participant_metadata_changed", (p, "old", "new")),
        ("participant_name_changed", (p, "Old Name", "New Name")),
        ("participant_attributes_changed", ({"lang": "fr"}, p)),
        ("participant_permissions_changed", (p, p.permissions)),
        ("connection_quality_changed", (p, rtc.ConnectionQuality.QUALITY_EXCELLENT)),
        ("connection_quality_changed", (None, rtc.ConnectionQuality.QUALITY_UNKNOWN)),
        ("active_speakers_changed", ([p, participant("user_2")],)),
        ("room_metadata_changed", ("old", "new")),
        ("room_updated", ()),
        ("moved", ()),
        (
            "data_received",
            (rtc.DataPacket(data=b"\x00\x01\x02", kind=room_pb2.KIND_RELIABLE, participant=p, topic="t"),),
        ),
        ("sip_dtmf_received", (rtc.SipDTMF(code=1, digit="1", participant=p),)),
        ("transcription_received", ([segment], p, pub)),
        ("track_published", (pub, p)),
        ("track_unpublished", (pub, p)),
        ("track_subscribed", (track(), pub, p)),
        ("track_unsubscribed", (None, pub, p)),
        ("track_muted", (p, pub)),
        ("track_unmuted", (p, pub)),
        ("track_subscription_failed", (p, "TR_2", "no route")),
        ("connection_state_changed", (room_pb2.CONN_RECONNECTING,)),
        ("reconnecting", ()),
        ("reconnected", ()),
        ("disconnected", (participant_pb2.ROOM_DELETED,)),
    ]
