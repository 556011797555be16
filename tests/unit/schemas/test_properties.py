"""Property-based tests over the envelope, the ids and the payloads."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from livekit.agents.llm import ChatMessage
from livekit.agents.llm.chat_context import ChatRole
from livekit.agents.voice.events import ConversationItemAddedEvent, UserInputTranscribedEvent

from schemas import SessionContext, decode, encode_event, encode_session_event, uuid7

ROLES: list[ChatRole] = ["developer", "system", "user", "assistant"]
text = st.text(min_size=1, max_size=40)
opt_text = st.none() | st.text(max_size=40)
times = st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False)
contexts = st.builds(
    SessionContext,
    session_id=text,
    agent_name=st.text(max_size=20),
    source=text,
    job_id=opt_text,
    room_name=opt_text,
    room_sid=opt_text,
    participant_identity=opt_text,
)


@settings(max_examples=150, deadline=None)
@given(ctx=contexts, seq=st.integers(min_value=1, max_value=2**53), t=times, resumed=st.booleans())
def test_envelope_round_trips(ctx: SessionContext, seq: int, t: float, resumed: bool) -> None:
    record = encode_event("livekit.agent.agent_false_interruption", {"resumed": resumed}, ctx, seq, t)
    event = decode(record.value, record.headers)
    assert record.key == ctx.session_id.encode()
    assert (event.session_id, event.source, event.agent_name, event.job_id) == (
        ctx.session_id,
        ctx.source,
        ctx.agent_name,
        ctx.job_id,
    )
    assert (event.room_name, event.room_sid, event.participant_identity) == (
        ctx.room_name,
        ctx.room_sid,
        ctx.participant_identity,
    )
    assert event.seq == seq
    assert abs(event.time.timestamp() - t) < 1e-5
    assert event.data.resumed is resumed  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None)
@given(
    transcript=st.text(max_size=200),
    is_final=st.booleans(),
    item_id=opt_text,
    speaker_id=opt_text,
    language=st.none() | st.sampled_from(["en", "fr", "de-DE"]),
    created_at=times,
)
def test_transcripts_round_trip(
    transcript: str,
    is_final: bool,
    item_id: str | None,
    speaker_id: str | None,
    language: str | None,
    created_at: float,
) -> None:
    ctx = SessionContext(session_id="s", agent_name="a", source="w")
    sdk = UserInputTranscribedEvent(
        transcript=transcript,
        is_final=is_final,
        item_id=item_id,
        speaker_id=speaker_id,
        language=language,
        created_at=created_at,
    )
    data = decode(encode_session_event(sdk, ctx, 1).value, None).data.model_dump()
    assert data == {
        "transcript": transcript,
        "is_final": is_final,
        "item_id": item_id,
        "speaker_id": speaker_id,
        "language": None if sdk.language is None else str(sdk.language),
    }


@settings(max_examples=100, deadline=None)
@given(
    parts=st.lists(st.text(max_size=50), max_size=5),
    role=st.sampled_from(ROLES),
    extra=st.dictionaries(
        st.text(max_size=10), st.integers(-(2**63), 2**63) | st.text(max_size=10) | st.none(), max_size=4
    ),
    confidence=st.none() | st.floats(min_value=0, max_value=1),
)
def test_chat_messages_round_trip(
    parts: list[str], role: ChatRole, extra: dict[str, object], confidence: float | None
) -> None:
    ctx = SessionContext(session_id="s", agent_name="a", source="w")
    msg = ChatMessage(role=role, content=list(parts), extra=extra, transcript_confidence=confidence)
    record = encode_session_event(ConversationItemAddedEvent(item=msg), ctx, 2)
    item = decode(record.value, record.headers).data.item  # type: ignore[attr-defined]
    assert [c.text for c in item.content] == parts
    assert (item.id, item.role, item.extra, item.transcript_confidence) == (msg.id, role, extra, confidence)


@given(st.integers(min_value=2, max_value=300))
def test_ids_are_unique_and_time_sorted(n: int) -> None:
    ids = [uuid7() for _ in range(n)]
    assert ids == sorted(ids)
    assert len(set(ids)) == n
    assert all(i[14] == "7" and i[19] in "89ab" for i in ids)


@given(value=st.binary(max_size=64) | st.from_regex(r"\A[\[\]{}\"a-z0-9:,]{0,30}\Z").map(str.encode))
def test_decode_only_raises_its_own_error(value: bytes) -> None:
    from schemas import DecodeError

    try:
        decode(value, None)
    except DecodeError:
        pass
    else:
        assert isinstance(orjson.loads(value), dict)


def test_free_form_values_are_made_json_safe() -> None:
    ctx = SessionContext(session_id="s", agent_name="a", source="w")
    msg = ChatMessage(role="user", content=["x"], extra={"big": 2**70, "d": {3: {1}}, "obj": object()})
    record = encode_session_event(ConversationItemAddedEvent(item=msg), ctx, 1)
    extra = decode(record.value, None).data.item.extra  # type: ignore[attr-defined]
    assert extra == {"big": str(2**70), "d": {"3": [1]}, "obj": "<object>"}
