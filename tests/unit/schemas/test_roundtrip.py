"""Every SDK event object, all fields set, survives encode -> decode and validates."""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson
import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from schemas import (
    REGISTRY,
    EncodedRecord,
    SessionContext,
    TopicFamily,
    decode,
    encode_room_event,
    encode_session_event,
)
from tests.unit.schemas import sdk_samples

AGENT_EVENTS = sdk_samples.agent_events()
ROOM_EVENTS = sdk_samples.room_events()

SKIPPED_FIELDS: dict[str, str] = {
    "type": "carried by the envelope's type",
    "created_at": "carried by the envelope's time",
    "hash": "deprecated bytes field of ChatMessage",
    "speech_handle": "excluded by the SDK; its id travels as speech_id",
    "speech_input": "numpy audio, never published",
    "probabilities": "numpy array, never published",
    "message": "deprecated on agent_false_interruption (reading it logs a warning)",
    "extra_instructions": "deprecated on agent_false_interruption",
    "content": "chat content: checked by test_chat_media_is_replaced_by_references",
}
IMPLIED_TYPES = {"function_call", "function_call_output"}
"""Discriminators the wire leaves out where the field's own type implies them."""
NON_JSON_FIELDS = {"error", "source"}


def _check_all_set(obj: BaseModel) -> None:
    for name, info in type(obj).model_fields.items():
        if name == "type" or info.deprecated:
            continue
        assert name in obj.model_fields_set, f"{type(obj).__name__}.{name} not set in the sample"
        if name in {"message", "extra_instructions", "speech_input", "probabilities"}:
            continue
        value = getattr(obj, name)
        if info.default is not PydanticUndefined:
            assert value != info.default, f"{type(obj).__name__}.{name} left at its default"
        if isinstance(value, BaseModel):
            _check_all_set(value)


def _ids(items: list[Any]) -> list[str]:
    return [f"{i}-{type(x).__name__ if isinstance(x, BaseModel) else x[0]}" for i, x in enumerate(items)]


def _assert_subset(sdk: Any, ours: Any, path: str) -> None:
    """Every SDK value appears unchanged in ours (ours may add fields)."""
    if isinstance(sdk, dict):
        assert isinstance(ours, dict), path
        for key, value in sdk.items():
            if key in SKIPPED_FIELDS and path.count(".") <= 1:
                continue
            if key == "type" and value in IMPLIED_TYPES:
                continue
            assert key in ours, f"{path}.{key} missing from the wire payload"
            _assert_subset(value, ours[key], f"{path}.{key}")
    elif isinstance(sdk, list):
        assert isinstance(ours, list), path
        assert len(sdk) == len(ours), path
        for i, (a, b) in enumerate(zip(sdk, ours, strict=True)):
            _assert_subset(a, b, f"{path}[{i}]")
    else:
        assert sdk == ours, f"{path}: {sdk!r} != {ours!r}"


def _check_record(record: EncodedRecord, ctx: SessionContext, committed_schema: Any) -> dict[str, Any]:
    body = orjson.loads(record.value)
    assert record.key == ctx.session_id.encode()
    jsonschema.Draft202012Validator(committed_schema(record.type, body["schema_version"])).validate(body)
    ce = ce_kafka.from_binary_event(
        ce_kafka.KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    )
    assert ce.get_id() == body["id"]
    assert ce.get_type() == record.type
    assert ce.get_source() == ctx.source
    ce_time = ce.get_time()
    assert ce_time is not None
    assert ce_time.timestamp() == pytest.approx(record.time, abs=1e-6)
    assert ce.get_extension("schemaversion") == str(REGISTRY.spec(record.type).current.version)
    assert body["schema_version"] == ce.get_extension("schemaversion")
    assert ce.get_data() == body
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize("sdk_event", AGENT_EVENTS, ids=_ids(AGENT_EVENTS))
def test_agent_event_round_trips(sdk_event: BaseModel, ctx: SessionContext, committed_schema: Any) -> None:
    _check_all_set(sdk_event)
    record = encode_session_event(sdk_event, ctx, seq=7)
    body = _check_record(record, ctx, committed_schema)
    event = decode(record.value, record.headers)

    assert event.type == f"livekit.agent.{sdk_event.type}"  # type: ignore[attr-defined]
    assert event.time.timestamp() == pytest.approx(sdk_event.created_at, abs=1e-6)  # type: ignore[attr-defined]
    assert record.time == sdk_event.created_at  # type: ignore[attr-defined]
    assert (event.seq, event.session_id, event.agent_name, event.job_id) == (
        7,
        "sess_1",
        "support-agent",
        "AJ_1",
    )
    assert (event.room_name, event.room_sid, event.participant_identity) == ("room-1", "RM_1", "user_1")
    user_state = getattr(sdk_event, "type", "") == "user_state_changed"
    expected_family = TopicFamily.USER_STATE if user_state else TopicFamily.SESSION
    assert record.family is expected_family
    ours = event.data.model_dump(mode="json")
    assert event.data.model_dump(mode="json", exclude_unset=True) == body["data"]
    sdk = sdk_event.model_dump(mode="json", exclude=NON_JSON_FIELDS & set(type(sdk_event).model_fields))
    _assert_subset(sdk, ours, "data")


def test_speech_created_carries_the_speech_id(ctx: SessionContext) -> None:
    sdk_event = next(e for e in AGENT_EVENTS if e.type == "speech_created")  # type: ignore[attr-defined]
    assert decode(encode_session_event(sdk_event, ctx, 1).value, None).data.speech_id == "speech_abc"  # type: ignore[attr-defined]


def test_chat_media_is_replaced_by_references(ctx: SessionContext) -> None:
    sdk_event = next(e for e in AGENT_EVENTS if getattr(e, "type", "") == "conversation_item_added")
    record = encode_session_event(sdk_event, ctx, 1)
    assert b"AAAABBBB" not in record.value
    content = decode(record.value, None).data.item.content  # type: ignore[attr-defined]
    assert [c.type for c in content] == ["text", "media_ref", "media_ref", "media_ref", "cache_breakpoint"]
    image, frame, audio = content[1:4]
    assert (image.kind, image.source, image.mime_type, image.size, image.id) == (
        "image",
        "data_url",
        "image/png",
        6,
        "img_1",
    )
    assert (frame.source, frame.size, frame.width, frame.height) == ("video_frame", 16, 2, 2)
    assert (audio.kind, audio.size, audio.duration, audio.transcript) == ("audio", 320, 0.01, "spoken words")


def test_errors_carry_class_and_message(ctx: SessionContext) -> None:
    errors = [e for e in AGENT_EVENTS if getattr(e, "type", "") == "error"]
    for sdk_event, cls in zip(
        errors, ["ValueError", "RuntimeError", "TimeoutError", "ConnectionError", "OSError"], strict=True
    ):
        data = decode(encode_session_event(sdk_event, ctx, 1).value, None).data
        assert data.error.exception.class_name == f"builtins.{cls}"  # type: ignore[attr-defined]
        assert data.error.exception.message.startswith("bad ")  # type: ignore[attr-defined]
        assert data.error.recoverable is True  # type: ignore[attr-defined]
        assert data.source.kind == "other"  # type: ignore[attr-defined]
    close = next(e for e in AGENT_EVENTS if getattr(e, "type", "") == "close")
    data = decode(encode_session_event(close, ctx, 1).value, None).data
    assert data.reason == "participant_disconnected"  # type: ignore[attr-defined]
    assert data.error.type == "llm_error"  # type: ignore[attr-defined]
    assert data.error.exception.message == "bad llm"  # type: ignore[attr-defined]


def test_text_transform_applies_to_transcripts_and_messages(ctx: SessionContext) -> None:
    redact = {"hello world": None, "hello there": "h***", "spoken words": "s***"}
    for sdk_event in AGENT_EVENTS[2], AGENT_EVENTS[4]:
        record = encode_session_event(sdk_event, ctx, 1, text_transform=redact.get)
        assert b"hello" not in record.value
        assert b"spoken" not in record.value
    transcribed = decode(encode_session_event(AGENT_EVENTS[2], ctx, 1, text_transform=redact.get).value, None)
    assert transcribed.data.transcript is None  # type: ignore[attr-defined]


def test_text_transform_applies_to_tool_progress_messages(ctx: SessionContext) -> None:
    from livekit.agents.voice import events as ev

    dropped = {"booked for Ada Lovelace": None, "calling Ada": None}
    updated = ev.ToolExecutionUpdatedEvent(
        update=ev.ToolCallUpdated(id="u1", call_id="c1", message="calling Ada")
    )
    ended = ev.ToolExecutionUpdatedEvent(
        update=ev.ToolCallEnded(id="u2", call_id="c1", message="booked for Ada Lovelace", status="done")
    )
    for sdk_event in updated, ended:
        record = encode_session_event(sdk_event, ctx, 1, text_transform=dropped.get)
        assert b"Ada" not in record.value
        decode(record.value, record.headers)  # still a valid event: a required text becomes ""
    kept = decode(encode_session_event(ended, ctx, 1).value, None).data
    assert kept.update.message == "booked for Ada Lovelace"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "args"), ROOM_EVENTS, ids=_ids(ROOM_EVENTS))
def test_room_event_round_trips(
    name: str, args: tuple[Any, ...], ctx: SessionContext, committed_schema: Any
) -> None:
    record = encode_room_event(name, args, ctx, 3, event_time=sdk_samples.T0)
    assert record is not None
    assert record.family is TopicFamily.ROOM
    body = _check_record(record, ctx, committed_schema)
    event = decode(record.value, record.headers)
    assert event.type == f"livekit.room.{name}"
    assert event.seq == 3
    assert event.data.model_dump(mode="json", exclude_unset=True) == body["data"]


def test_room_payload_values(ctx: SessionContext) -> None:
    def data(name: str, index: int = 0) -> dict[str, Any]:
        matches = [a for n, a in ROOM_EVENTS if n == name]
        record = encode_room_event(name, matches[index], ctx, 1)
        assert record is not None
        return decode(record.value, None).data.model_dump()

    left = data("participant_disconnected")
    assert left["reason"] == "client_initiated"
    assert left["participant"] == {
        "sid": "PA_user_1",
        "identity": "user_1",
        "name": "Name user_1",
        "kind": "sip",
        "kind_details": ["connector_twilio"],
        "state": "active",
        "metadata": '{"m": 1}',
        "attributes": {"lang": "fr"},
        "joined_at": 1_767_225_600.0,
    }
    assert data("data_received") == {
        "topic": "t",
        "kind": "reliable",
        "size": 3,
        "data_base64": None,
        "participant": {"sid": "PA_user_1", "identity": "user_1", "kind": "sip"},
    }
    assert data("connection_quality_changed", 1) == {"participant": None, "quality": "unknown"}
    assert data("connection_quality_changed")["quality"] == "excellent"
    assert data("disconnected") == {"reason": "room_deleted"}
    assert data("connection_state_changed") == {"state": "reconnecting"}
    assert data("participant_permissions_changed")["permissions"]["can_publish_sources"] == ["microphone"]
    assert data("track_published")["publication"]["encryption_type"] == "gcm"
    assert data("transcription_received")["segments"][0]["text"] == "bonjour"
    assert data("track_subscribed")["track_sid"] == "TR_1"


def test_data_bytes_only_when_enabled(ctx: SessionContext) -> None:
    args = next(a for n, a in ROOM_EVENTS if n == "data_received")
    record = encode_room_event("data_received", args, ctx, 1, include_data_bytes=True)
    assert record is not None
    assert decode(record.value, None).data.data_base64 == "AAEC"  # type: ignore[attr-defined]


def test_dtmf_digits_are_dropped_when_text_is_redacted(ctx: SessionContext) -> None:
    args = next(a for n, a in ROOM_EVENTS if n == "sip_dtmf_received")
    plain = encode_room_event("sip_dtmf_received", args, ctx, 1)
    assert plain is not None
    data = decode(plain.value, plain.headers).data
    assert (data.code, data.digit) == (args[0].code, args[0].digit)  # type: ignore[attr-defined]
    for transform in (str.upper, lambda _: None):  # hash or drop: a digit's hash would name it
        record = encode_room_event("sip_dtmf_received", args, ctx, 1, text_transform=transform)
        assert record is not None
        redacted = decode(record.value, record.headers).data
        assert (redacted.code, redacted.digit) == (None, None)  # type: ignore[attr-defined]
        assert redacted.participant == data.participant  # type: ignore[attr-defined]


def test_a_dtmf_record_of_version_1_0_is_read_as_the_current_version(ctx: SessionContext) -> None:
    from schemas.payloads.room_v1 import SipDtmfReceivedV1_1

    args = next(a for n, a in ROOM_EVENTS if n == "sip_dtmf_received")
    record = encode_room_event("sip_dtmf_received", args, ctx, 1)
    assert record is not None
    body = orjson.loads(record.value)
    body["schema_version"] = "1.0"
    headers = [(k, b"1.0" if k == "ce_schemaversion" else v) for k, v in record.headers]
    event = decode(orjson.dumps(body), headers)
    assert event.schema_version == "1.1"
    assert isinstance(event.data, SipDtmfReceivedV1_1)
    assert event.data.digit == args[0].digit
