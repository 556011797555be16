"""The timeline, rendered from Event objects: times, deltas, types and the key fields."""

from __future__ import annotations

from typing import Any

from lkbus.replay import TimelineRenderer
from lkbus.replay.timeline import describe, display_type, format_delta, format_duration, quote
from schemas import EncodedRecord, Event, SessionContext, decode, encode_event
from tests.unit.replay.recording import T0, conversation, ctx


def event(
    type_name: str, data: dict[str, Any], *, t: float = T0, seq: int = 1, session: str = "s-1"
) -> Event:
    record = encode_event(type_name, data, ctx(session), seq, t)
    return decode(record.value, record.headers)


def participant_connected(context: SessionContext, identity: str) -> EncodedRecord:
    info = {
        "sid": "PA_1",
        "identity": identity,
        "name": identity,
        "kind": "standard",
        "state": "active",
        "metadata": "",
    }
    return encode_event("livekit.room.participant_connected", {"participant": info}, context, 1, T0)


def test_a_session_renders_line_by_line() -> None:
    renderer = TimelineRenderer(show_session=False)
    lines: list[str] = []
    for record in conversation(ctx("s-1"), T0):
        lines.extend(renderer.render(decode(record.value, record.headers)))
    assert lines[0] == "── 2024-05-01 (UTC) ──"
    body = lines[1:]
    assert body[0].startswith("12:00:00.000             session.started")
    assert body[0].endswith("agent weather-agent started")
    assert body[1].startswith("12:00:00.250    +0.250s  agent_state_changed")
    expected_details = [
        "agent weather-agent started",
        "agent initializing → listening",
        "user listening → speaking",
        'user said "what is the weather"',
        "agent listening → thinking",
        "tools lookup_weather",
        "agent thinking → speaking",
        "user listening → away",
        "prompt_user cmd-1 executed → speech sp1",
        "closed: participant_disconnected",
        "ended: closed, 11 events, 2.5s",
    ]
    assert [line.split("  ")[-1].strip() for line in body] == expected_details
    assert all("s-1" not in line for line in body)


def test_session_column_and_day_change() -> None:
    renderer = TimelineRenderer(show_session=True)
    first = renderer.render(event("livekit.agent.close", {"reason": "error"}, t=T0 + 43_199.5))
    second = renderer.render(event("livekit.agent.close", {"reason": "task_completed"}, t=T0 + 43_200.5))
    assert first[0] == "── 2024-05-01 (UTC) ──"
    assert first[1].endswith("closed: error  · s-1")
    assert second[0] == "── 2024-05-02 (UTC) ──"
    assert second[1].startswith("00:00:00.500    +1.000s  close")


def test_transcripts_are_quoted_on_one_line_and_redacted_text_is_marked() -> None:
    long = "word " * 100
    d = describe(
        event("livekit.agent.user_input_transcribed", {"transcript": "two\nlines", "is_final": True})
    )
    assert d == 'user said "two lines"'
    d = describe(event("livekit.agent.user_input_transcribed", {"transcript": None, "is_final": False}))
    assert d == "user (interim) [redacted]"
    assert len(quote(long)) <= 162
    assert quote(long).endswith('…"')


def test_conversation_items_tools_errors_and_commands() -> None:
    item = {
        "type": "message",
        "id": "i1",
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Sunny."},
            {"type": "media_ref", "kind": "image", "source": "url"},
        ],
        "interrupted": True,
        "created_at": T0,
    }
    assert describe(event("livekit.agent.conversation_item_added", {"item": item})) == (
        'assistant: "Sunny." [image] (interrupted)'
    )
    handoff = {"type": "agent_handoff", "id": "h", "new_agent_id": "billing", "created_at": T0}
    assert (
        describe(event("livekit.agent.conversation_item_added", {"item": handoff})) == "handoff - → billing"
    )
    call = {"id": "c", "call_id": "k", "name": "book", "arguments": "{}", "created_at": T0}
    out = {"id": "o", "call_id": "k", "name": "book", "output": "boom", "is_error": True, "created_at": T0}
    tools = {"function_calls": [call], "function_call_outputs": [out]}
    assert describe(event("livekit.agent.function_tools_executed", tools)) == "tools book (error)"
    started = {"update": {"type": "tool_call_started", "function_call": call}}
    assert describe(event("livekit.agent.tool_execution_updated", started)) == "tool book started"
    rejected = {"command_id": "c9", "command_type": "say", "reason": "expired"}
    assert describe(event("lkbus.command.rejected", rejected)) == "say c9 rejected: expired"
    error = {
        "error": {
            "type": "llm_error",
            "recoverable": True,
            "exception": {"class_name": "APIError", "message": "x"},
        },
        "source": {"kind": "llm", "class_name": "LLM", "provider": "openai"},
    }
    assert (
        describe(event("livekit.agent.error", error)) == "llm openai error llm_error APIError (recoverable)"
    )
    closed = {"reason": "error", "error": {"type": "stt_error"}}
    assert describe(event("livekit.agent.close", closed)) == "closed: error, error stt_error"


def test_room_events_name_the_participant() -> None:
    record = participant_connected(SessionContext(session_id="s", agent_name="a", source="t"), "carol")
    assert describe(decode(record.value, record.headers)) == "carol joined (standard)"
    assert display_type("livekit.room.participant_connected") == "room.participant_connected"
    assert display_type("lkbus.session.ended") == "session.ended"
    assert display_type("custom.thing") == "custom.thing"


def test_deltas_and_durations() -> None:
    assert format_delta(0.5124) == "+0.512s"
    assert format_delta(-0.003) == "-0.003s"
    assert format_delta(125) == "+2m05s"
    assert format_delta(3720) == "+1h02m"
    assert format_duration(None) == "-"
    assert format_duration(12.34) == "12.3s"
    assert format_duration(125) == "2m05s"


def test_dtmf_keys_show_unless_redacted() -> None:
    caller = {"sid": "PA_1", "identity": "caller", "kind": "sip"}
    pressed = describe(
        event("livekit.room.sip_dtmf_received", {"code": 5, "digit": "5", "participant": caller})
    )
    hidden = describe(
        event("livekit.room.sip_dtmf_received", {"code": None, "digit": None, "participant": caller})
    )
    assert pressed.endswith("dtmf 5")
    assert hidden.endswith("dtmf (redacted)")


def test_redacted_timeline_hides_what_was_said_and_aliases_participants() -> None:
    context = ctx("s-1")
    alice = {"sid": "PA_1", "identity": "alice@example.com", "kind": "standard"}
    bob = {"sid": "PA_2", "identity": "bob", "kind": "sip"}
    said = {
        "type": "message",
        "id": "i1",
        "role": "user",
        "content": [{"type": "text", "text": "my card is 4242"}],
        "created_at": T0,
    }
    segment = {
        "id": "g1",
        "text": "call me at 555",
        "start_time": 0,
        "end_time": 1,
        "language": "en",
        "final": True,
    }
    records = [
        participant_connected(context, "alice@example.com"),
        encode_event(
            "livekit.agent.user_input_transcribed",
            {"transcript": "my card", "is_final": True},
            context,
            2,
            T0,
        ),
        encode_event("livekit.agent.conversation_item_added", {"item": said}, context, 3, T0),
        encode_event("livekit.room.active_speakers_changed", {"speakers": [bob, alice]}, context, 4, T0),
        encode_event(
            "livekit.room.transcription_received",
            {"segments": [segment], "participant": bob, "track_sid": "TR_1"},
            context,
            5,
            T0,
        ),
        encode_event(
            "livekit.room.sip_dtmf_received", {"code": 4, "digit": "4", "participant": bob}, context, 6, T0
        ),
        encode_event(
            "livekit.room.participant_disconnected",
            {
                "participant": alice | {"name": "Alice", "state": "disconnected", "metadata": ""},
                "reason": None,
            },
            context,
            7,
            T0,
        ),
    ]
    events = [decode(r.value, r.headers) for r in records]

    def details(redact: bool) -> list[str]:
        renderer = TimelineRenderer(show_session=False, redact=redact)
        lines = [(e, renderer.render(e)[-1]) for e in events]
        return [line.split(display_type(e.type), 1)[1].strip() for e, line in lines]

    assert details(redact=True) == [
        "participant-1 joined (standard)",
        "user said [redacted]",
        "user: [redacted]",
        "speakers participant-2, participant-1",
        "participant-2 transcription [redacted]",
        "participant-2 dtmf (redacted)",
        "participant-1 left",
    ]
    shown = " ".join(details(redact=False))
    for private in ("alice@example.com", "bob", "my card", "4242", "555", "dtmf 4"):
        assert private in shown, "as recorded, the same events show them"
