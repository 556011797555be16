"""The per-session summary: a hand-computed session, disorder, duplicates, gaps, idle timeout."""

from __future__ import annotations

import random
from datetime import timedelta

import jsonschema
import orjson
import pytest

from consumers.analytics import SessionAccumulator, SessionMismatchError, fold_session, percentile
from consumers.analytics.exceptions import AnalyticsError
from consumers.analytics.stats import LatencyStats
from schemas import SCHEMAS_ROOT, SessionContext, decode, encode_event
from schemas.payloads.analytics_v1 import SessionSummaryV1
from tests.unit.consumers.analytics.scripted import T0, Script, conversation


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 11)]
    assert [percentile(values, p) for p in (50, 90, 99, 100)] == [5.0, 9.0, 10.0, 10.0]
    hundred = [float(v) for v in range(1, 101)]
    assert [percentile(hundred, p) for p in (50, 90, 99)] == [50.0, 90.0, 99.0]
    assert percentile([], 50) is None
    stats = LatencyStats.of([0.3, 0.1, 0.2])
    assert (stats.count, stats.p50, stats.p90, stats.max) == (3, 0.2, 0.3, 0.3)


def test_scripted_session_summary() -> None:
    s = fold_session(conversation().events)
    assert s.session_id == "s1"
    assert s.agent_name == "support"
    assert s.status == "ended"
    assert s.started_at == T0
    assert s.ended_at == T0 + timedelta(seconds=60)
    assert s.duration == pytest.approx(60.0)
    assert s.close_reason == "user_initiated"
    assert (s.events, s.duplicates, s.missing, s.last_seq) == (35, 0, 0, 35)
    # listening 2 + 6 + 17.5 + 9, speaking 2 + 1 + 1, away 6.5 + 15
    assert s.user_state_time.model_dump() == pytest.approx({"speaking": 4.0, "listening": 34.5, "away": 21.5})
    assert s.agent_state_time.model_dump() == pytest.approx(
        {"initializing": 0.5, "idle": 0.0, "listening": 50.3, "thinking": 0.7, "speaking": 8.5}
    )
    assert (s.user_turns, s.agent_replies, s.interruptions, s.false_interruptions) == (1, 2, 1, 1)
    assert s.away_episodes == 2
    assert s.prompts.model_dump() == {
        "issued": 2,
        "user_returned": 1,
        "session_closed": 1,
        "pending": 0,
        "rejected": 1,
    }
    assert [(t.name, t.calls, t.errors) for t in s.tool_calls] == [
        ("broken_tool", 1, 1),
        ("lookup_weather", 1, 0),
    ]
    lat = s.latency
    assert lat.response.samples == pytest.approx([1.0, 1.5, 1.0])
    response = lat.response
    assert [response.count, response.p50, response.p90, response.p99, response.max] == pytest.approx(
        [3, 1.0, 1.5, 1.5, 1.5]
    )
    assert (lat.end_of_utterance.p50, lat.end_of_utterance.p90, lat.end_of_utterance.max) == (0.3, 0.5, 0.5)
    assert (lat.transcription.p50, lat.transcription.p99) == (0.1, 0.2)
    assert (lat.llm_ttft.count, lat.llm_ttft.p50) == (1, 0.4)
    assert (lat.tts_ttfb.count, lat.tts_ttfb.max) == (1, 0.2)
    assert s.usage_source == "session_usage"
    assert [(u.kind, u.provider, u.model) for u in s.usage] == [
        ("llm", "openai", "gpt"),
        ("stt", "deepgram", "nova"),
        ("tts", "cartesia", "sonic"),
    ]
    assert (s.usage[0].input_tokens, s.usage[0].output_tokens) == (100, 20)
    assert (s.usage[2].characters, s.usage[2].audio_seconds) == (120, 6.5)
    assert s.usage[1].audio_seconds == 30.0
    assert [(e.source, e.provider, e.recoverable, e.count) for e in s.errors] == [("llm", "openai", True, 1)]


def test_usage_falls_back_to_metrics_without_session_usage() -> None:
    script = Script().started().llm(1.0, 0.5, prompt=10, completion=4).llm(2.0, -1.0, prompt=5, completion=1)
    script.tts(3.0, 0.1, characters=7, audio=2.0)
    s = fold_session(script.events)
    assert s.usage_source == "metrics"
    llm, tts = s.usage
    assert (llm.kind, llm.provider, llm.model, llm.input_tokens, llm.output_tokens, llm.requests) == (
        "llm",
        "openai",
        "gpt",
        15,
        5,
        2,
    )
    assert (tts.characters, tts.audio_seconds) == (7, 2.0)
    assert s.latency.llm_ttft.samples == [0.5], "a negative ttft (never received) is left out"


def test_order_and_duplicates_do_not_change_the_summary() -> None:
    events = conversation().events
    expected = fold_session(events)
    rng = random.Random(7)
    for _ in range(5):
        shuffled = events + rng.sample(events, 10)
        rng.shuffle(shuffled)
        got = fold_session(shuffled)
        assert got.duplicates == 10
        assert got.model_dump(exclude={"duplicates"}) == expected.model_dump(exclude={"duplicates"})


def test_accumulator_buffers_ahead_of_a_gap_and_completes() -> None:
    events = conversation().events
    acc = SessionAccumulator()
    late = events[20]  # seq 21: the first away
    for ev in events:
        if ev is not late:
            assert acc.add(ev)
    assert acc.ended
    assert not acc.complete
    partial = acc.summary()
    assert partial.missing == 1
    assert partial.away_episodes == 1
    assert acc.add(late)
    assert acc.complete
    assert acc.summary() == fold_session(events)
    assert not acc.add(late)
    assert acc.duplicates == 1


def test_summary_is_incremental() -> None:
    events = conversation().events
    acc = SessionAccumulator("s1")
    for i, ev in enumerate(events, 1):
        acc.add(ev)
        assert acc.summary() == fold_session(events[:i])


def test_a_session_with_no_close_times_out_idle() -> None:
    script = Script("s2").started(0.0).agent_state(0.5, "initializing", "listening")
    script.user(10.0, "listening", "away").command(12.0)
    acc = SessionAccumulator()
    for ev in script.events:
        acc.add(ev)
    last = T0 + timedelta(seconds=12)
    assert acc.last_event_time == last
    assert not acc.is_idle(last + timedelta(seconds=299), 300)
    assert acc.is_idle(last + timedelta(seconds=300), 300)

    idle = acc.summary(last + timedelta(seconds=400), idle_timeout_s=300)
    assert idle.status == "idle_timeout"
    assert idle.ended_at == last
    assert idle.duration == pytest.approx(12.0)
    assert idle.close_reason is None
    assert idle.prompts.pending == 1
    assert idle.prompts.session_closed == 0
    assert idle.user_state_time.away == pytest.approx(2.0)

    still_open = acc.summary(last + timedelta(seconds=100), idle_timeout_s=300)
    assert still_open.status == "open"
    assert still_open.duration == pytest.approx(112.0)
    assert still_open.user_state_time.away == pytest.approx(102.0)


def test_an_ended_session_is_never_idle() -> None:
    acc = SessionAccumulator()
    for ev in Script().started().close(1.0).ended(1.1).events:
        acc.add(ev)
    assert not acc.is_idle(T0 + timedelta(days=1), 60)


def test_a_lost_event_counts_as_missing() -> None:
    events = [ev for ev in conversation().events if ev.seq != 5]
    s = fold_session(events)
    assert s.missing == 1
    assert s.latency.end_of_utterance.samples == [0.5]


def test_the_buffer_is_bounded() -> None:
    events = conversation().events
    acc = SessionAccumulator(max_buffer=3)
    for ev in events[1:]:
        acc.add(ev)
    s = acc.summary()
    assert s.missing == 1
    assert s.events == 34
    acc.add(events[0])  # seq 1, behind the skipped gap: applied late
    assert acc.summary().missing == 0


def test_rejects_other_sessions_and_empty_input() -> None:
    acc = SessionAccumulator()
    acc.add(Script("a").started().events[0])
    with pytest.raises(SessionMismatchError):
        acc.add(Script("b").started().events[0])
    with pytest.raises(AnalyticsError):
        SessionAccumulator().summary()


def test_summary_is_a_registered_event_type() -> None:
    summary = fold_session(conversation().events)
    ctx = SessionContext(session_id="s1", agent_name="support", source="lkbus-analytics")
    record = encode_event("lkbus.analytics.session_summary", summary.model_dump(mode="json"), ctx, 1, 1.0e9)
    event = decode(record.value, record.headers)
    assert isinstance(event.data, SessionSummaryV1)
    assert event.data == summary
    schema = orjson.loads((SCHEMAS_ROOT / "json/lkbus.analytics.session_summary/v1.0.json").read_bytes())
    jsonschema.validate(orjson.loads(record.value), schema)
