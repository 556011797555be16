"""The inactivity policy: pure folds of real decoded events, and the clock as a number."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from consumers.inactivity.policy import (
    Action,
    Close,
    InactivityConfig,
    InactivityOverrides,
    InactivityPolicy,
    Prompt,
    SessionState,
    apply,
    command_id,
    due,
    mark_issued,
    next_deadline,
)
from schemas import Event, SessionContext, decode, encode_event

T0 = 1_750_000_000.0
"""Epoch seconds of the first event."""
POLICY = InactivityPolicy()
CTX = SessionContext(session_id="sess_1", agent_name="support-agent", source="lkbus/test")


def event(
    type_name: str, data: Mapping[str, object], seq: int, at: float, ctx: SessionContext = CTX
) -> Event:
    record = encode_event(type_name, data, ctx, seq, at)
    return decode(record.value, record.headers)


def user_state(seq: int, at: float, old: str, new: str) -> Event:
    return event("livekit.agent.user_state_changed", {"old_state": old, "new_state": new}, seq, at)


def transcript(seq: int, at: float, *, final: bool = True) -> Event:
    return event("livekit.agent.user_input_transcribed", {"transcript": None, "is_final": final}, seq, at)


def started(seq: int = 1, agent_name: str = "support-agent") -> Event:
    return event("lkbus.session.started", {"agent_name": agent_name}, seq, T0)


def agent_close(seq: int, at: float) -> Event:
    return event("livekit.agent.close", {"reason": "participant_disconnected"}, seq, at)


def ended(seq: int, at: float) -> Event:
    return event("lkbus.session.ended", {"reason": "closed", "last_seq": seq}, seq, at)


def executed(seq: int, at: float, cmd_id: str, command_type: str = "prompt_user") -> Event:
    return event("lkbus.command.executed", {"command_id": cmd_id, "command_type": command_type}, seq, at)


def rejected(seq: int, at: float, cmd_id: str, command_type: str = "prompt_user") -> Event:
    data = {"command_id": cmd_id, "command_type": command_type, "reason": "duplicate"}
    return event("lkbus.command.rejected", data, seq, at)


def fold(events: Iterable[Event], state: SessionState | None = None) -> SessionState | None:
    for ev in events:
        state = apply(state, ev)
    return state


def folded(events: Iterable[Event], state: SessionState | None = None) -> SessionState:
    state = fold(events, state)
    assert state is not None
    return state


def away_history(away_at: float = T0 + 5) -> list[Event]:
    """Session started (seq 1), user listening (2), user away at ``away_at`` (seq 3)."""
    return [
        started(),
        user_state(2, T0 + 1, "speaking", "listening"),
        user_state(3, away_at, "listening", "away"),
    ]


def run_clock(
    state: SessionState, times: Iterable[float], policy: InactivityPolicy = POLICY
) -> tuple[SessionState, list[tuple[float, Action]]]:
    """Call ``due`` at each time and send (mark) whatever it returns, as the runner would."""
    sent: list[tuple[float, Action]] = []
    for now in times:
        for action in due(state, now, policy):
            sent.append((now, action))
            state = mark_issued(state, action)
    return state, sent


def ticks(start: float, stop: float, step: float = 0.5) -> list[float]:
    return [start + i * step for i in range(int((stop - start) / step) + 1)]


def test_away_prompts_three_times_then_closes() -> None:
    away_at = T0 + 5
    state = folded(away_history(away_at))
    assert state.episode is not None
    assert state.episode.away_seq == 3
    assert due(state, away_at - 0.1, POLICY) == []
    assert next_deadline(state, POLICY) == away_at

    state, sent = run_clock(state, ticks(away_at, away_at + 60))

    assert [(now - away_at, type(a).__name__) for now, a in sent] == [
        (0.0, "Prompt"),
        (10.0, "Prompt"),
        (20.0, "Prompt"),
        (30.0, "Close"),
    ]
    prompts = [a for _, a in sent if isinstance(a, Prompt)]
    assert [p.number for p in prompts] == [1, 2, 3]
    assert {p.command.instructions for p in prompts} == {POLICY.prompt_instructions}
    close = sent[-1][1]
    assert isinstance(close, Close)
    assert close.command.reason == "user inactive"
    assert close.command.drain is True
    assert state.close_requested
    assert due(state, away_at + 1000, POLICY) == []
    assert next_deadline(state, POLICY) is None


def test_deadlines_follow_the_schedule() -> None:
    away_at = T0 + 5
    state = folded(away_history(away_at))
    deadlines = []
    for _ in range(4):
        deadline = next_deadline(state, POLICY)
        assert deadline is not None
        deadlines.append(deadline - away_at)
        assert due(state, deadline - 0.001, POLICY) == []
        [action] = due(state, deadline, POLICY)
        state = mark_issued(state, action)
    assert deadlines == [0.0, 10.0, 20.0, 30.0]
    assert next_deadline(state, POLICY) is None


def test_user_returns_after_first_prompt() -> None:
    away_at = T0 + 5
    state, sent = run_clock(folded(away_history(away_at)), [away_at, away_at + 1])
    assert len(sent) == 1
    back = apply(state, user_state(4, away_at + 3, "away", "speaking"))
    assert back is not None
    assert back.episode is None
    assert next_deadline(back, POLICY) is None
    _, later = run_clock(back, ticks(away_at + 3, away_at + 120, 1.0))
    assert later == []


def test_final_transcript_ends_the_episode_and_interim_does_not() -> None:
    away_at = T0 + 5
    state = folded([*away_history(away_at), transcript(4, away_at + 2, final=False)])
    assert state.episode is not None
    state = folded([*away_history(away_at), transcript(4, away_at + 2), transcript(5, away_at + 3)])
    assert state.episode is None
    assert due(state, away_at + 100, POLICY) == []


@pytest.mark.parametrize("closing", [agent_close, ended])
def test_closed_session_has_nothing_due(closing: Callable[[int, float], Event]) -> None:
    away_at = T0 + 5
    state = folded([*away_history(away_at), closing(4, away_at + 1)])
    assert state.closed
    assert state.episode is None
    assert due(state, away_at + 100, POLICY) == []
    assert next_deadline(state, POLICY) is None
    # The session stays closed whatever comes after.
    after = fold([user_state(5, away_at + 2, "listening", "away"), started(1)], state)
    assert after is not None
    assert after.closed
    assert due(after, away_at + 100, POLICY) == []


def test_close_before_away_in_another_topic_still_closes() -> None:
    # The close (session topic) is read before the older away (user-state topic).
    away_at = T0 + 5
    state = folded([started(), agent_close(9, away_at + 50), user_state(3, away_at, "listening", "away")])
    assert state.closed
    assert due(state, away_at + 100, POLICY) == []


def test_per_agent_overrides() -> None:
    config = InactivityConfig(
        default=InactivityPolicy(prompt_interval_s=5.0),
        per_agent={"sales": InactivityOverrides(max_prompts=1, close_reason="idle")},
    )
    sales = config.policy_for("sales")
    assert sales.max_prompts == 1
    assert sales.close_reason == "idle"
    assert sales.prompt_interval_s == 5.0
    assert sales.prompt_instructions == POLICY.prompt_instructions
    assert config.policy_for("support-agent") == config.default
    assert config.policy_for(None) == config.default
    assert InactivityConfig().policy_for("x") == InactivityPolicy()

    sales_ctx = SessionContext(session_id="sess_2", agent_name="sales", source="lkbus/test")
    away = event(
        "livekit.agent.user_state_changed", {"old_state": "listening", "new_state": "away"}, 3, T0, sales_ctx
    )
    state = folded([away])
    assert state.agent_name == "sales"
    _, sent = run_clock(state, ticks(T0, T0 + 30), config.policy_for(state.agent_name))
    assert [(now - T0, type(a).__name__) for now, a in sent] == [(0.0, "Prompt"), (5.0, "Close")]


def test_overrides_from_plain_settings_are_validated() -> None:
    config = InactivityConfig.model_validate({"per_agent": {"a": {"first_prompt_delay_s": 2}}})
    assert config.policy_for("a").first_prompt_delay_s == 2.0
    with pytest.raises(ValidationError):
        InactivityConfig.model_validate({"per_agent": {"a": {"prompt_interval_s": 0}}})
    with pytest.raises(ValidationError):
        InactivityConfig.model_validate({"per_agent": {"a": {"max_prompt": 2}}})
    with pytest.raises(ValidationError):
        InactivityPolicy(max_prompts=-1)


def test_started_event_records_agent_name() -> None:
    bare = SessionContext(session_id="sess_1", agent_name="", source="lkbus/test")
    state = folded([event("lkbus.session.started", {"agent_name": "concierge"}, 1, T0, bare)])
    assert state.agent_name == "concierge"


def test_first_prompt_delay() -> None:
    policy = InactivityPolicy(first_prompt_delay_s=4.0, max_prompts=2)
    away_at = T0 + 5
    _, sent = run_clock(folded(away_history(away_at)), ticks(away_at, away_at + 60), policy)
    assert [(now - away_at, type(a).__name__) for now, a in sent] == [
        (4.0, "Prompt"),
        (14.0, "Prompt"),
        (24.0, "Close"),
    ]


def test_commands_are_deterministic_and_stamped_with_their_due_time() -> None:
    away_at = T0 + 5
    late = away_at + 3.7
    first = due(folded(away_history(away_at)), late, POLICY)
    again = due(folded(away_history(away_at)), late + 2, POLICY)
    assert first == again
    [prompt] = first
    assert isinstance(prompt, Prompt)
    cmd = prompt.command
    assert cmd.command_id == command_id("sess_1", 3, 1)
    assert cmd.session_id == "sess_1"
    assert cmd.issued_at == away_at
    assert cmd.expires_at == away_at + POLICY.command_ttl_s

    state, sent = run_clock(folded(away_history(away_at)), ticks(away_at, away_at + 40))
    [(close_time, close)] = [(now, a) for now, a in sent if isinstance(a, Close)]
    assert isinstance(close, Close)
    assert close.command.command_id == command_id("sess_1", 3, "close")
    assert close.command.issued_at == close_time == away_at + 30
    assert close.command.expires_at == away_at + 60
    assert state.issued == {
        command_id("sess_1", 3, 1),
        command_id("sess_1", 3, 2),
        command_id("sess_1", 3, 3),
        command_id("sess_1", 3, "close"),
    }


def test_ids_differ_per_session_episode_and_step() -> None:
    ids = {
        command_id("sess_1", 3, 1),
        command_id("sess_1", 3, 2),
        command_id("sess_1", 3, "close"),
        command_id("sess_1", 7, 1),
        command_id("sess_2", 3, 1),
    }
    assert len(ids) == 5


def test_restart_refold_resumes_after_the_executed_prompts() -> None:
    away_at = T0 + 5
    live, sent = run_clock(folded(away_history(away_at)), ticks(away_at, away_at + 12))
    assert [a.number for _, a in sent if isinstance(a, Prompt)] == [1, 2]
    outcomes = [
        executed(4, away_at + 1, command_id("sess_1", 3, 1)),
        executed(5, away_at + 11, command_id("sess_1", 3, 2)),
    ]

    rebuilt = folded([*away_history(away_at), *outcomes])
    assert rebuilt.episode is not None
    assert rebuilt.episode.prompts_issued == 2
    assert due(rebuilt, away_at + 12, POLICY) == []
    assert next_deadline(rebuilt, POLICY) == next_deadline(live, POLICY) == away_at + 20
    assert due(rebuilt, away_at + 20, POLICY) == due(live, away_at + 20, POLICY)

    # Outcomes read before the away (another topic) count just the same.
    reordered = folded([*outcomes, *away_history(away_at)])
    assert reordered == rebuilt


def test_restart_without_outcomes_re_derives_the_same_command() -> None:
    away_at = T0 + 5
    _, [(_, sent)] = run_clock(folded(away_history(away_at)), [away_at + 1])
    # The consumer died before the outcome: the rebuilt state sends the same command again,
    # and the agent drops it as a duplicate.
    assert due(folded(away_history(away_at)), away_at + 2, POLICY) == [sent]


def test_rejected_prompt_counts_as_attempted() -> None:
    away_at = T0 + 5
    state = folded([*away_history(away_at), rejected(4, away_at + 1, command_id("sess_1", 3, 1))])
    assert state.episode is not None
    assert state.episode.prompts_issued == 1
    assert due(state, away_at + 5, POLICY) == []


@pytest.mark.parametrize("outcome", [executed, rejected])
def test_close_outcome_stops_the_policy(outcome: Callable[[int, float, str, str], Event]) -> None:
    away_at = T0 + 5
    close_id = command_id("sess_1", 3, "close")
    state = folded([*away_history(away_at), outcome(4, away_at + 31, close_id, "close_session")])
    assert state.close_requested
    assert due(state, away_at + 100, POLICY) == []
    assert next_deadline(state, POLICY) is None


def test_other_command_outcomes_are_ignored() -> None:
    state = folded(away_history())
    assert apply(state, executed(4, T0 + 6, "say-1", "say")) == state


def test_second_episode_gets_fresh_ids_and_restarts_the_count() -> None:
    away_at = T0 + 5
    state, first = run_clock(folded(away_history(away_at)), ticks(away_at, away_at + 15))
    assert len(first) == 2
    state = folded(
        [
            user_state(4, away_at + 16, "away", "speaking"),
            user_state(5, away_at + 18, "speaking", "listening"),
        ],
        state,
    )
    second_at = away_at + 40
    state = folded([user_state(6, second_at, "listening", "away")], state)
    assert state.episode is not None
    assert state.episode.away_seq == 6
    assert state.episode.prompts_issued == 0
    state, second = run_clock(state, ticks(second_at, second_at + 40))
    assert [(now - second_at, type(a).__name__) for now, a in second] == [
        (0.0, "Prompt"),
        (10.0, "Prompt"),
        (20.0, "Prompt"),
        (30.0, "Close"),
    ]
    first_ids = {a.command.command_id for _, a in first}
    second_ids = {a.command.command_id for _, a in second}
    assert not first_ids & second_ids
    assert second[0][1].command.command_id == command_id("sess_1", 6, 1)


def test_lagging_consumer_sends_only_the_latest_due_command() -> None:
    away_at = T0 + 5
    state = folded(away_history(away_at))
    [action] = due(state, away_at + 21, POLICY)
    assert isinstance(action, Prompt)
    assert action.number == 3
    assert action.command.issued_at == away_at + 20
    state = mark_issued(state, action)
    assert state.episode is not None
    assert state.episode.prompts_issued == 3
    assert next_deadline(state, POLICY) == away_at + 30
    [close] = due(folded(away_history(away_at)), away_at + 500, POLICY)
    assert isinstance(close, Close)


def test_duplicates_and_older_events_are_ignored() -> None:
    away_at = T0 + 5
    history = [*away_history(away_at), user_state(4, away_at + 3, "away", "listening")]
    clean = folded(history)
    # Re-delivery of the whole history and of the old away after the return.
    assert folded([*history, *history]) == clean
    assert folded([*history, history[2]]) == clean
    assert clean.episode is None
    # A final transcript older than the away (session topic read late) does not end it.
    state = folded([*away_history(away_at), transcript(2, T0 + 1)])
    assert state.episode is not None
    # A transcript newer than the away, read before it, means the user is back already.
    state = folded([started(), transcript(5, away_at + 1), *away_history(away_at)[1:]])
    assert state.episode is None


def test_applying_an_event_twice_is_idempotent() -> None:
    state: SessionState | None = None
    for ev in [
        *away_history(),
        executed(4, T0 + 6, command_id("sess_1", 3, 1)),
        transcript(5, T0 + 7),
        ended(6, T0 + 8),
    ]:
        state = apply(state, ev)
        assert apply(state, ev) == state


def test_irrelevant_events_and_other_sessions() -> None:
    metrics_free = event(
        "livekit.agent.agent_state_changed", {"old_state": "idle", "new_state": "listening"}, 2, T0
    )
    assert apply(None, metrics_free) is None
    state = folded(away_history())
    assert apply(state, metrics_free) == state
    other = SessionContext(session_id="sess_2", agent_name="support-agent", source="lkbus/test")
    with pytest.raises(ValueError, match="another session"):
        apply(state, event("livekit.agent.close", {"reason": "error"}, 9, T0, other))


def test_mark_issued_for_an_ended_episode_does_not_touch_the_new_one() -> None:
    away_at = T0 + 5
    state = folded(away_history(away_at))
    [stale] = due(state, away_at, POLICY)
    state = folded(
        [user_state(4, away_at + 1, "away", "listening"), user_state(5, away_at + 2, "listening", "away")],
        state,
    )
    state = mark_issued(state, stale)
    assert state.episode is not None
    assert state.episode.prompts_issued == 0
    [fresh] = due(state, away_at + 2, POLICY)
    assert fresh.command.command_id == command_id("sess_1", 5, 1)


def session_history() -> tuple[list[Event], list[Event]]:
    """One session's events split by topic: user-state topic and session topic, each in seq order."""
    a = T0 + 5
    user_topic = [
        user_state(2, T0 + 1, "speaking", "listening"),
        user_state(3, a, "listening", "away"),
        user_state(6, a + 12, "away", "speaking"),
        user_state(7, a + 14, "speaking", "listening"),
        user_state(9, a + 40, "listening", "away"),
    ]
    session_topic = [
        started(1),
        executed(4, a + 1, command_id("sess_1", 3, 1)),
        rejected(5, a + 11, command_id("sess_1", 3, 2)),
        transcript(8, a + 13),
        executed(10, a + 41, command_id("sess_1", 9, 1)),
    ]
    return user_topic, session_topic


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_interleaving_with_redeliveries_gives_the_same_state(data: st.DataObject) -> None:
    user_topic, session_topic = session_history()
    expected = folded(sorted([*user_topic, *session_topic], key=lambda e: e.seq or 0))
    # Interleave the two topics, each kept in order, as two partitions are read.
    picks = data.draw(st.permutations([0] * len(user_topic) + [1] * len(session_topic)))
    queues = [list(user_topic), list(session_topic)]
    stream = [queues[p].pop(0) for p in picks]
    # Re-deliver some already-read events later on (at-least-once delivery, restarts).
    for _ in range(data.draw(st.integers(0, 6))):
        source = data.draw(st.integers(0, len(stream) - 1))
        target = data.draw(st.integers(source + 1, len(stream)))
        stream.insert(target, stream[source])
    state = folded(stream)
    assert state == expected
    assert state.episode is not None
    assert state.episode.away_seq == 9
    assert state.episode.prompts_issued == 1


@settings(max_examples=200, deadline=None)
@given(
    now=st.floats(0, 120),
    interval=st.floats(0.5, 20),
    max_prompts=st.integers(0, 5),
    delay=st.floats(0, 10),
)
def test_next_deadline_agrees_with_due(now: float, interval: float, max_prompts: int, delay: float) -> None:
    policy = InactivityPolicy(prompt_interval_s=interval, max_prompts=max_prompts, first_prompt_delay_s=delay)
    state = folded(away_history(T0))
    sent = 0
    while (deadline := next_deadline(state, policy)) is not None:
        actions = due(state, max(deadline, T0 + now), policy)
        assert len(actions) == 1
        assert due(state, deadline - 1e-3, policy) == []
        state = mark_issued(state, actions[0])
        sent += 1
    assert 1 <= sent <= max_prompts + 1
    assert state.close_requested
