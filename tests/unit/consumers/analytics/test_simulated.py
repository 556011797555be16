"""A real AgentSession (fake models) through encode and decode into the summary."""

from __future__ import annotations

import time

import pytest

from consumers.analytics import fold_session
from lkbus.sim import EventLog, canonical_conversation, simulated_session
from schemas import Event, SessionContext, decode, encode_event, encode_session_event

pytestmark = pytest.mark.timeout(30)


async def test_canonical_conversation_summary() -> None:
    log = EventLog()
    t0 = time.time()
    async with simulated_session(user_away_timeout=0.3, before_start=log.attach) as sim:
        await canonical_conversation(sim)
    ctx = SessionContext(session_id="sim-1", agent_name="weather", source="test")
    records = [encode_event("lkbus.session.started", {"agent_name": "weather"}, ctx, 1, t0)]
    for recorded in log:
        records.append(encode_session_event(recorded.event, ctx, len(records) + 1))
    last = len(records) + 1
    records.append(
        encode_event(
            "lkbus.session.ended", {"reason": "user_initiated", "last_seq": last}, ctx, last, time.time()
        )
    )
    events: list[Event] = [decode(r.value, r.headers) for r in records]

    s = fold_session(reversed(events))
    assert (s.status, s.close_reason, s.missing, s.events) == ("ended", "user_initiated", 0, len(events))
    assert (s.user_turns, s.agent_replies, s.away_episodes) == (3, 3, 1)
    assert [(t.name, t.calls, t.errors) for t in s.tool_calls] == [("lookup_weather", 1, 0)]
    states = s.user_state_time
    assert states.speaking + states.listening + states.away == pytest.approx(s.duration, abs=1e-6)
    assert states.away > 0
    assert s.latency.response.count >= 3
    assert s.latency.end_of_utterance.count >= 3
    assert s.latency.llm_ttft.count >= 3
    assert s.usage_source in {"session_usage", "metrics"}
