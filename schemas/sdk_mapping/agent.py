"""AgentSession event objects (livekit-agents 1.8.x) to version 1 wire dicts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livekit.agents.inference.interruption import (
    AdaptiveInterruptionDetector,
    OverlappingSpeechEvent,
)
from livekit.agents.llm import (
    LLM,
    AgentHandoff,
    ChatMessage,
    FunctionCall,
    FunctionCallOutput,
    RealtimeModel,
)
from livekit.agents.llm.chat_context import AudioContent, CacheBreakpoint, ImageContent
from livekit.agents.stt import STT
from livekit.agents.tts import TTS
from livekit.agents.voice import events as ev_mod
from pydantic import BaseModel

from schemas.exceptions import UnsupportedEvent
from schemas.sdk_mapping.common import TextTransform, class_name, exception_info, plain

AGENT_PREFIX = "livekit.agent."


def _text(text: str | None, tt: TextTransform | None) -> str | None:
    if text is None or tt is None:
        return text
    return tt(text)


def _image_ref(c: ImageContent) -> dict[str, Any]:
    ref: dict[str, Any] = {"type": "media_ref", "kind": "image", "id": c.id, "mime_type": c.mime_type}
    image = c.image
    if isinstance(image, str):
        if image.startswith("data:"):
            header, _, b64 = image.partition(",")
            ref["source"] = "data_url"
            if ref["mime_type"] is None:
                ref["mime_type"] = header[5:].split(";", 1)[0] or None
            ref["size"] = len(b64) * 3 // 4 - b64.count("=", max(len(b64) - 2, 0))
        else:
            ref["source"] = "url"
    else:
        ref["source"] = "video_frame"
        ref["size"] = len(image.data)
        ref["width"] = image.width
        ref["height"] = image.height
    return ref


def _audio_ref(c: AudioContent, tt: TextTransform | None) -> dict[str, Any]:
    size = 0
    duration = 0.0
    mime = None
    for frame in c.frame:
        size += frame.data.nbytes
        duration += frame.duration
        mime = f"audio/L16;rate={frame.sample_rate};channels={frame.num_channels}"
    return {
        "type": "media_ref",
        "kind": "audio",
        "source": "audio_frames",
        "mime_type": mime,
        "size": size,
        "duration": duration,
        "transcript": _text(c.transcript, tt),
    }


def _content(items: list[Any], tt: TextTransform | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in items:
        if isinstance(c, str):
            out.append({"type": "text", "text": _text(c, tt)})
        elif isinstance(c, ImageContent):
            out.append(_image_ref(c))
        elif isinstance(c, AudioContent):
            out.append(_audio_ref(c, tt))
        elif isinstance(c, CacheBreakpoint):
            out.append({"type": "cache_breakpoint"})
        else:
            raise UnsupportedEvent(f"unsupported chat content {class_name(c)}")
    return out


def chat_message(msg: ChatMessage, tt: TextTransform | None) -> dict[str, Any]:
    return {
        "type": "message",
        "id": msg.id,
        "role": msg.role,
        "content": _content(msg.content, tt),
        "interrupted": msg.interrupted,
        "transcript_confidence": msg.transcript_confidence,
        "extra": msg.extra,
        "metrics": dict(msg.metrics),
        "created_at": msg.created_at,
    }


def _required_text(text: str, tt: TextTransform | None) -> str:
    """A text field that is never null: dropped text becomes empty."""
    if tt is None:
        return text
    return tt(text) or ""


def function_call(fc: FunctionCall, tt: TextTransform | None) -> dict[str, Any]:
    """Arguments are redacted with the transcripts: the model fills them from what the user said."""
    return {
        "id": fc.id,
        "call_id": fc.call_id,
        "name": fc.name,
        "arguments": _required_text(fc.arguments, tt),
        "created_at": fc.created_at,
        "extra": fc.extra,
        "group_id": fc.group_id,
    }


def function_call_output(out: FunctionCallOutput, tt: TextTransform | None) -> dict[str, Any]:
    """Outputs are redacted with the transcripts: they often repeat what the user said."""
    return {
        "id": out.id,
        "call_id": out.call_id,
        "name": out.name,
        "output": _required_text(out.output, tt),
        "is_error": out.is_error,
        "created_at": out.created_at,
        "reply_required": out.reply_required,
    }


def error_detail(error: object) -> dict[str, Any]:
    """An SDK error object (LLMError, STTError, ...) or anything else, as ErrorDetailV1."""
    if isinstance(error, BaseModel):
        exc = getattr(error, "error", None)
        return {
            "type": str(getattr(error, "type", "unknown")),
            "label": getattr(error, "label", None),
            "timestamp": getattr(error, "timestamp", None),
            "recoverable": getattr(error, "recoverable", None),
            "exception": exception_info(exc) if isinstance(exc, BaseException) else None,
        }
    if isinstance(error, BaseException):
        return {"type": "unknown", "exception": exception_info(error)}
    return {"type": "unknown", "label": class_name(error)}


def _error_source(source: object) -> dict[str, Any]:
    kind: str
    if isinstance(source, LLM):
        kind = "llm"
    elif isinstance(source, STT):
        kind = "stt"
    elif isinstance(source, TTS):
        kind = "tts"
    elif isinstance(source, RealtimeModel):
        kind = "realtime_model"
    elif isinstance(source, AdaptiveInterruptionDetector):
        kind = "interruption_detector"
    else:
        return {"kind": "other", "class_name": class_name(source)}
    return {
        "kind": kind,
        "class_name": class_name(source),
        "provider": source.provider,
        "model": source.model,
    }


def _user_state(e: ev_mod.UserStateChangedEvent, tt: TextTransform | None) -> dict[str, Any]:
    return {"old_state": e.old_state, "new_state": e.new_state}


def _agent_state(e: ev_mod.AgentStateChangedEvent, tt: TextTransform | None) -> dict[str, Any]:
    return {"old_state": e.old_state, "new_state": e.new_state}


def _transcribed(e: ev_mod.UserInputTranscribedEvent, tt: TextTransform | None) -> dict[str, Any]:
    return {
        "transcript": _text(e.transcript, tt),
        "is_final": e.is_final,
        "item_id": e.item_id,
        "speaker_id": e.speaker_id,
        "language": None if e.language is None else str(e.language),
    }


def _transcription_timeout(
    e: ev_mod.UserTranscriptionTimeoutEvent, tt: TextTransform | None
) -> dict[str, Any]:
    return {"speech_duration": e.speech_duration, "vad_speech_started_at": e.vad_speech_started_at}


def _item_added(e: ev_mod.ConversationItemAddedEvent, tt: TextTransform | None) -> dict[str, Any]:
    item = e.item
    if isinstance(item, ChatMessage):
        return {"item": chat_message(item, tt)}
    if isinstance(item, AgentHandoff):
        return {
            "item": {
                "type": "agent_handoff",
                "id": item.id,
                "old_agent_id": item.old_agent_id,
                "new_agent_id": item.new_agent_id,
                "created_at": item.created_at,
            }
        }
    raise UnsupportedEvent(f"unsupported conversation item {class_name(item)}")


def _false_interruption(e: ev_mod.AgentFalseInterruptionEvent, tt: TextTransform | None) -> dict[str, Any]:
    return {"resumed": e.resumed}


def _overlapping(e: OverlappingSpeechEvent, tt: TextTransform | None) -> dict[str, Any]:
    return {
        "detected_at": e.detected_at,
        "is_interruption": e.is_interruption,
        "agent_ended": e.agent_ended,
        "total_duration": e.total_duration,
        "prediction_duration": e.prediction_duration,
        "detection_delay": e.detection_delay,
        "overlap_started_at": e.overlap_started_at,
        "probability": e.probability,
        "num_requests": e.num_requests,
    }


def _tools_executed(e: ev_mod.FunctionToolsExecutedEvent, tt: TextTransform | None) -> dict[str, Any]:
    return {
        "function_calls": [function_call(fc, tt) for fc in e.function_calls],
        "function_call_outputs": [function_call_output(o, tt) for o in e.function_call_outputs],
    }


def _metrics(e: ev_mod.MetricsCollectedEvent, tt: TextTransform | None) -> dict[str, Any]:
    return {"metrics": plain(e.metrics)}


def _usage(e: ev_mod.SessionUsageUpdatedEvent, tt: TextTransform | None) -> dict[str, Any]:
    return {"usage": {"model_usage": [plain(u) for u in e.usage.model_usage]}}


def _speech_created(e: ev_mod.SpeechCreatedEvent, tt: TextTransform | None) -> dict[str, Any]:
    return {"user_initiated": e.user_initiated, "source": e.source, "speech_id": e.speech_handle.id}


def _tool_update(e: ev_mod.ToolExecutionUpdatedEvent, tt: TextTransform | None) -> dict[str, Any]:
    u = e.update
    if isinstance(u, ev_mod.ToolCallStarted):
        return {"update": {"type": u.type, "function_call": function_call(u.function_call, tt)}}
    update = plain(u)
    message = update.get("message")
    if isinstance(message, str):  # a tool's progress or result message, for the user
        update["message"] = (
            _required_text(message, tt) if isinstance(u, ev_mod.ToolCallUpdated) else _text(message, tt)
        )
    return {"update": update}


def _error(e: ev_mod.ErrorEvent, tt: TextTransform | None) -> dict[str, Any]:
    return {"error": error_detail(e.error), "source": _error_source(e.source)}


def _close(e: ev_mod.CloseEvent, tt: TextTransform | None) -> dict[str, Any]:
    return {
        "reason": e.reason.value,
        "error": None if e.error is None else error_detail(e.error),
    }


Mapper = Callable[[Any, TextTransform | None], dict[str, Any]]

MAPPERS: dict[type, tuple[str, Mapper]] = {
    ev_mod.UserStateChangedEvent: ("user_state_changed", _user_state),
    ev_mod.AgentStateChangedEvent: ("agent_state_changed", _agent_state),
    ev_mod.UserInputTranscribedEvent: ("user_input_transcribed", _transcribed),
    ev_mod.UserTranscriptionTimeoutEvent: ("user_transcription_timeout", _transcription_timeout),
    ev_mod.ConversationItemAddedEvent: ("conversation_item_added", _item_added),
    ev_mod.AgentFalseInterruptionEvent: ("agent_false_interruption", _false_interruption),
    OverlappingSpeechEvent: ("overlapping_speech", _overlapping),
    ev_mod.FunctionToolsExecutedEvent: ("function_tools_executed", _tools_executed),
    ev_mod.MetricsCollectedEvent: ("metrics_collected", _metrics),
    ev_mod.SessionUsageUpdatedEvent: ("session_usage_updated", _usage),
    ev_mod.SpeechCreatedEvent: ("speech_created", _speech_created),
    ev_mod.ToolExecutionUpdatedEvent: ("tool_execution_updated", _tool_update),
    ev_mod.ErrorEvent: ("error", _error),
    ev_mod.CloseEvent: ("close", _close),
}
"""SDK event class to (SDK event name, mapper)."""


TYPED_MAPPERS: dict[type, tuple[str, Mapper]] = {
    cls: (AGENT_PREFIX + name, mapper) for cls, (name, mapper) in MAPPERS.items()
}
"""SDK event class (or subclass, added on first sight) to (wire event type, mapper)."""


def map_agent_event(ev: object, tt: TextTransform | None) -> tuple[str, dict[str, Any], float]:
    """Return (event type, wire data, created_at) for an AgentSession event object."""
    cls = type(ev)
    entry = TYPED_MAPPERS.get(cls)
    if entry is None:
        for base, (name, mapper) in MAPPERS.items():
            if isinstance(ev, base):
                entry = (AGENT_PREFIX + name, mapper)
                if len(TYPED_MAPPERS) < 256:
                    TYPED_MAPPERS[cls] = entry
                break
        else:
            raise UnsupportedEvent(f"no schema for {class_name(ev)}")
    type_name, mapper = entry
    created_at = getattr(ev, "created_at", None)
    if type(created_at) is not float:
        if not isinstance(created_at, float | int):
            raise UnsupportedEvent(f"{class_name(ev)} has no created_at")
        created_at = float(created_at)
    return type_name, mapper(ev, tt), created_at
