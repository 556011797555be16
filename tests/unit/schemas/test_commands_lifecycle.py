"""Commands, their outcomes and the producer's lifecycle events."""

from __future__ import annotations

import orjson
import pytest

from schemas import (
    CloseSessionV1,
    PromptUserV1,
    SayV1,
    SessionContext,
    TopicFamily,
    UnsupportedEvent,
    decode,
    encode_command,
    encode_event,
    encode_room_event,
    encode_session_event,
)
from schemas.payloads.lifecycle_v1 import SessionEndedV1, SessionStartedV1


@pytest.mark.parametrize(
    "command",
    [
        PromptUserV1(
            command_id="c1", session_id="s1", issued_at=10.0, expires_at=40.0, instructions="check in"
        ),
        SayV1(
            command_id="c2",
            session_id="s1",
            issued_at=10.0,
            expires_at=40.0,
            text="hi",
            add_to_chat_ctx=False,
        ),
        CloseSessionV1(command_id="c3", session_id="s1", issued_at=10.0, expires_at=40.0, reason="idle"),
    ],
)
def test_command_round_trip(command: PromptUserV1 | SayV1 | CloseSessionV1) -> None:
    record = encode_command(command, source="lkbus/inactivity")
    assert record.family is TopicFamily.COMMANDS
    assert record.key == b"s1"
    event = decode(record.value, record.headers)
    assert event.data == command
    assert event.seq is None
    assert event.type.startswith("lkbus.command.")
    assert "seq" not in orjson.loads(record.value)


def test_outcomes_and_lifecycle(ctx: SessionContext) -> None:
    started = {
        "agent_name": "support-agent",
        "options": {
            "models": {"llm": {"provider": "openai", "model": "gpt-4o"}, "stt": None},
            "timeouts": {"user_away_timeout": 15.0},
            "turn_detection": "vad",
            "max_tool_steps": 3,
        },
    }
    event = decode(encode_event("lkbus.session.started", started, ctx, 1, 100.0).value, None)
    assert isinstance(event.data, SessionStartedV1)
    assert event.data.options.models.llm is not None
    assert event.data.options.timeouts.user_away_timeout == 15.0
    ended = {"reason": "close", "event_counts": {"livekit.agent.close": 1}, "last_seq": 9, "duration": 3.5}
    event = decode(encode_event("lkbus.session.ended", ended, ctx, 9, 103.5).value, None)
    assert isinstance(event.data, SessionEndedV1)
    assert event.data.last_seq == event.seq == 9
    for type_name, data in [
        ("lkbus.command.executed", {"command_id": "c1", "command_type": "say", "speech_id": "speech_1"}),
        ("lkbus.command.rejected", {"command_id": "c1", "command_type": "say", "reason": "expired"}),
    ]:
        record = encode_event(type_name, data, ctx, 2, 101.0)
        assert record.family is TopicFamily.SESSION
        assert decode(record.value, record.headers).data.model_dump(exclude_none=True) == data


def test_unsupported_inputs(ctx: SessionContext) -> None:
    with pytest.raises(UnsupportedEvent):
        encode_session_event(object(), ctx, 1)
    with pytest.raises(UnsupportedEvent):
        encode_room_event("no_such_event", (), ctx, 1)
    with pytest.raises(UnsupportedEvent):
        encode_room_event("participant_connected", (), ctx, 1)
    with pytest.raises(UnsupportedEvent):
        encode_event("lkbus.nope", {}, ctx, 1, 1.0)
    with pytest.raises(UnsupportedEvent):
        encode_event("lkbus.command.say", {}, ctx, 1, 1.0)
    assert encode_room_event("local_track_published", (object(), object()), ctx, 1) is None
    assert encode_room_event("token_refreshed", (), ctx, 1) is None
