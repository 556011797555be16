"""Per-agent, per-minute rollups: windows, lateness, duplicates, merging, live sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consumers.analytics import RollupRow, Rollups, RollupWindow, window_start_of
from schemas import Event
from tests.unit.consumers.analytics.scripted import T0, Script

MINUTE = timedelta(minutes=1)


def _sessions() -> tuple[list[Event], list[Event], list[Event]]:
    a = Script("A").started(10.0).eou(45.0, 0.3, 0.1).user(50.0, "listening", "away").command(55.0)
    a.close(149.0).ended(150.0)
    b = Script("B").started(80.0).tts(85.0, 0.2).ended(110.0, "participant_disconnected")
    c = Script("C", agent="sales").started(30.0)
    return a.events, b.events, c.events


def _summary(row: RollupRow) -> tuple[object, ...]:
    return (
        row.agent_name,
        row.window_start - T0,
        row.sessions_started,
        row.sessions_ended,
        row.concurrent_sessions,
        row.away_episodes,
        row.prompts,
        row.closes,
    )


def test_window_start_is_aligned_on_the_minute() -> None:
    assert window_start_of(T0 + timedelta(seconds=59.999)) == T0
    assert window_start_of(T0 + timedelta(seconds=60)) == T0 + MINUTE
    assert window_start_of(T0 + timedelta(seconds=61), 30) == T0 + timedelta(seconds=60)


def test_rollups_with_disorder_duplicates_and_lateness() -> None:
    a, b, c = _sessions()
    rollups = Rollups(allowed_lateness_s=30)
    for ev in [a[0], c[0], a[2], a[1], a[3], b[0], a[2], b[1], b[2]]:
        assert rollups.add(ev)
    first = rollups.pop_closed()  # watermark 12:01:50 closes the 12:00 windows
    assert [_summary(r) for r in first] == [
        ("sales", timedelta(0), 1, 0, 1, 0, 0, {}),
        ("support", timedelta(0), 1, 0, 1, 1, 1, {}),
    ]
    latency = first[1].latency
    assert (latency["end_of_utterance"].count, latency["end_of_utterance"].p50) == (1, 0.3)
    assert latency["transcription"].max == 0.1
    assert latency["tts_ttfb"].count == 0

    too_late = Script("E").started(20.0).events[0]
    assert not rollups.add(too_late)
    assert rollups.late_dropped == 1

    assert rollups.add(a[4])
    assert rollups.add(a[5])
    second = rollups.pop_closed()
    assert [_summary(r) for r in second] == [
        ("support", MINUTE, 1, 1, 2, 0, 0, {"participant_disconnected": 1}),
    ], "A is live in 12:01 without an event in it"
    assert second[0].latency["tts_ttfb"].p99 == 0.2
    assert [_summary(r) for r in rollups.flush()] == [
        ("support", 2 * MINUTE, 0, 1, 1, 0, 0, {"user_initiated": 1}),
    ]
    assert rollups.flush() == []


def test_window_add_is_idempotent_and_windows_merge() -> None:
    a, b, _ = _sessions()
    minute = [ev for ev in a + b if T0 + MINUTE <= ev.time < T0 + 2 * MINUTE]
    early = [ev for ev in a + b if ev.time < T0 + MINUTE]
    whole = RollupWindow("support", T0)
    for ev in early + early:
        whole.add(ev)
    left, right = RollupWindow("support", T0), RollupWindow("support", T0)
    for i, ev in enumerate(early):
        (left if i % 2 else right).add(ev)
    assert left.merge(right).row() == whole.row()
    assert whole.row().away_episodes == 1
    with pytest.raises(ValueError, match="outside"):
        whole.add(minute[0])
    with pytest.raises(ValueError, match="merge"):
        whole.merge(RollupWindow("sales", T0))


def test_window_closes_after_the_allowed_lateness() -> None:
    window = RollupWindow("support", T0)
    assert window.window_end == T0 + MINUTE
    assert not window.closed(T0 + timedelta(seconds=89.9), 30)
    assert window.closed(T0 + timedelta(seconds=90), 30)
    assert window.closed(T0 + MINUTE, 0)


def test_events_without_agent_name_are_filed_under_unknown() -> None:
    rollups = Rollups()
    rollups.add(Script("X", agent=None).started(1.0).events[0])
    (row,) = rollups.flush()
    assert row.agent_name == "unknown"


def test_a_window_fold_round_trips_through_json() -> None:
    a, b, _ = _sessions()
    window = RollupWindow("support", T0)
    for ev in a + b:
        if window.accepts(ev):
            window.add(ev)
    window.mark_active("Z")
    again = RollupWindow.from_json(window.to_json())
    assert again == window
    assert again.row() == window.row()
    for bad in (b"", b"[]", b'{"agent_name": "x"}', b"\xff"):
        with pytest.raises(ValueError, match="not a rollup window fold"):
            RollupWindow.from_json(bad)


def test_a_source_read_behind_holds_the_watermark_back() -> None:
    """Reading a backlog, one partition may run minutes ahead of another: the one behind is not late."""
    a, _, _ = _sessions()
    rollups = Rollups(allowed_lateness_s=0)
    rollups.watch_source("partition-0")
    rollups.watch_source("partition-1")
    ahead = Script("F").started(200.0).ended(260.0).events
    for ev in ahead:
        assert rollups.add(ev, "partition-1")
    assert rollups.watermark is None, "partition 0 has not reported yet"
    assert rollups.pop_closed() == []
    assert rollups.add(a[0], "partition-0"), "12:00 is not closed: partition 0 is only at 12:00"
    assert rollups.watermark == a[0].time
    assert rollups.pop_closed() == []
    rollups.forget_source("partition-0")  # revoked: it no longer holds the watermark back
    assert rollups.watermark == ahead[-1].time
    assert rollups.pop_closed()[0].window_start == T0


def test_sessions_of_a_revoked_partition_stop_counting_as_live() -> None:
    """An instance that loses a partition never sees its sessions end: it must not keep them live."""
    a, _, _ = _sessions()
    kept = Script("K").started(20.0).ended(30.0).events
    rollups = Rollups(allowed_lateness_s=0, session_idle_s=600)
    for ev in a[:2]:
        assert rollups.add(ev, "p0")
    for ev in kept:
        assert rollups.add(ev, "p1")
    rollups.forget_source("p0")
    for ev in Script("M").started(70.0).ended(80.0).events + Script("L").started(200.0).events:
        assert rollups.add(ev, "p1")
    rows = {r.window_start - T0: r.concurrent_sessions for r in rollups.pop_closed()}
    assert rows[MINUTE] == 1, "only M: A (revoked, its end unseen) is not live in 12:01"
    assert rows[timedelta(0)] == 2, "A's own events in 12:00 still count"
