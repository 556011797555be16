"""Filters: globs, any-of within an option, all-of across options, and the header prefilter."""

from __future__ import annotations

import pytest

from lkbus.replay import EventFilter
from schemas import Event, SessionContext, decode, encode_event
from tests.unit.replay.recording import T0, conversation, ctx


@pytest.fixture
def events() -> list[Event]:
    records = conversation(ctx("s-1", agent="weather-agent", room="room-a", who="alice"), T0)
    records += conversation(ctx("s-2", agent="billing-agent", room="room-b", who="bob"), T0 + 10)
    return [decode(r.value, r.headers) for r in records]


def shown(spec: EventFilter, events: list[Event]) -> list[tuple[str, int | None]]:
    compiled = spec.compiled()
    return [(e.session_id, e.seq) for e in events if compiled.matches(e)]


def test_empty_filter_shows_everything(events: list[Event]) -> None:
    assert EventFilter().empty
    assert len(shown(EventFilter(), events)) == len(events)


@pytest.mark.parametrize(
    ("spec", "sessions"),
    [
        (EventFilter(sessions=("s-1",)), {"s-1"}),
        (EventFilter(sessions=("s-*",)), {"s-1", "s-2"}),
        (EventFilter(sessions=("s-1", "s-2")), {"s-1", "s-2"}),
        (EventFilter(sessions=("nope",)), set()),
        (EventFilter(rooms=("room-b",)), {"s-2"}),
        (EventFilter(agents=("weather-*",)), {"s-1"}),
        (EventFilter(participants=("bob",)), {"s-2"}),
        (EventFilter(agents=("weather-agent",), rooms=("room-b",)), set()),
    ],
)
def test_session_level_filters(spec: EventFilter, sessions: set[str], events: list[Event]) -> None:
    assert {s for s, _ in shown(spec, events)} == sessions


def test_type_globs_match_the_full_or_the_short_name(events: list[Event]) -> None:
    one = [e for e in events if e.session_id == "s-1"]
    user_state = [e.seq for e in one if e.type == "livekit.agent.user_state_changed"]
    assert [seq for _, seq in shown(EventFilter(types=("*user_state*",)), one)] == user_state
    assert [seq for _, seq in shown(EventFilter(types=("user_state_changed",)), one)] == user_state
    assert [seq for _, seq in shown(EventFilter(types=("close", "lkbus.session.*")), one)] == [1, 10, 11]
    assert shown(EventFilter(types=("USER_STATE*",)), one) == [], "globs are case-sensitive"


def test_participant_matches_the_payload_of_room_events() -> None:
    from tests.unit.replay.test_timeline import participant_connected

    context = SessionContext(session_id="s", agent_name="a", source="t")
    record = participant_connected(context, "carol")
    event = decode(record.value, record.headers)
    assert event.participant_identity is None
    assert EventFilter(participants=("car*",)).compiled().matches(event)
    assert not EventFilter(participants=("bob",)).compiled().matches(event)


def test_prefilter_uses_key_and_type_header_only() -> None:
    record = encode_event(
        "livekit.agent.user_state_changed", {"old_state": "listening", "new_state": "away"}, ctx("s-1"), 2, T0
    )
    assert EventFilter(sessions=("s-1",)).compiled().prefilter(record.key, record.headers)
    assert not EventFilter(sessions=("s-2",)).compiled().prefilter(record.key, record.headers)
    assert EventFilter(sessions=("s-*",)).compiled().prefilter(b"other", record.headers), "globs decide later"
    assert EventFilter(types=("*user_state*",)).compiled().prefilter(record.key, record.headers)
    assert not EventFilter(types=("close",)).compiled().prefilter(record.key, record.headers)
    assert EventFilter(types=("close",)).compiled().prefilter(None, []), "no headers: decode and decide"
    assert EventFilter(types=("close",)).compiled().prefilter(None, [("ce_type", b"\xff")])


def test_only_a_filter_on_types_alone_is_decided_by_the_headers() -> None:
    assert EventFilter(types=("*close",)).compiled().types_only
    assert not EventFilter().compiled().types_only
    assert not EventFilter(types=("*close",), sessions=("s-1",)).compiled().types_only
    assert not EventFilter(types=("*close",), participants=("u",)).compiled().types_only
