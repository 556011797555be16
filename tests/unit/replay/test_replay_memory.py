"""`replay()` and `sessions()` end to end over the in-memory source (no Kafka)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from lkbus.replay import (
    AtTime,
    Beginning,
    EventFilter,
    FromEnd,
    MemoryRecordSource,
    Offset,
    Record,
    ReplayOptions,
    SessionsOptions,
    replay,
    sessions,
)
from lkbus.replay.exceptions import ReplayOptionError
from lkbus.settings import Settings
from schemas import EncodedRecord, decode, encode_event
from tests.unit.replay.recording import T0, TOPICS, Recording, conversation, ctx
from tests.unit.replay.test_position import NOW

SETTINGS = Settings()


@pytest.fixture
def recording() -> Recording:
    rec = Recording(partitions=3)
    records = [
        r
        for i in range(4)
        for r in conversation(ctx(f"s-{i}", agent="a" if i % 2 else "b", room=f"room-{i}"), T0 + i * 0.1)
    ]
    rec.add(sorted(records, key=lambda r: r.time))  # as the producer writes them: in time order
    return rec


def source(recording: Recording, batch_size: int = 3) -> MemoryRecordSource:
    return MemoryRecordSource(recording.full(), batch_size=batch_size)


async def run(recording: Recording, options: ReplayOptions) -> tuple[list[str], list[str]]:
    out, err = io.StringIO(), io.StringIO()
    await replay(SETTINGS, options, out, err=err, source=source(recording))
    return out.getvalue().splitlines(), err.getvalue().splitlines()


async def test_interleaved_sessions_merge_by_time_and_each_keeps_its_order(recording: Recording) -> None:
    out = io.StringIO()
    stats = await replay(SETTINGS, ReplayOptions(format="jsonl"), out, source=source(recording))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert stats.read == stats.total == stats.shown == len(events) == 44
    times = [datetime.fromisoformat(e["time"]) for e in events]
    assert times == sorted(times)
    for i in range(4):
        assert [e["seq"] for e in events if e["session_id"] == f"s-{i}"] == list(range(1, 12))


async def test_timeline_of_one_session(recording: Recording) -> None:
    lines, _ = await run(recording, ReplayOptions(filter=EventFilter(sessions=("s-2",))))
    assert lines[0] == "── 2024-05-01 (UTC) ──"
    assert len(lines) == 12
    assert "session.started" in lines[1]
    assert lines[1].startswith("12:00:00.200 ")
    assert lines[-1].split()[2] == "session.ended"
    assert all("· s-" not in line for line in lines), "one session: no session column"


async def test_filters_and_count(recording: Recording) -> None:
    lines, _ = await run(recording, ReplayOptions(filter=EventFilter(types=("*user_state*",), agents=("a",))))
    body = lines[1:]
    assert len(body) == 4
    assert all("user_state_changed" in line and (" · s-1" in line or " · s-3" in line) for line in body)
    lines, _ = await run(recording, ReplayOptions(count=5))
    assert len(lines) == 6


async def test_filtered_replays_count_every_record_read(recording: Recording) -> None:
    out = io.StringIO()
    options = ReplayOptions(format="jsonl", filter=EventFilter(types=("*user_state*",)))
    stats = await replay(SETTINGS, options, out, source=source(recording))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert stats.read == stats.total == 44, "records ruled out by their headers were read too"
    assert stats.shown == len(events) == 8
    assert {e["type"] for e in events} == {"livekit.agent.user_state_changed"}
    times = [datetime.fromisoformat(e["time"]) for e in events]
    assert times == sorted(times)


async def test_a_type_filter_passes_records_on_as_written_and_still_checks_them(
    recording: Recording,
) -> None:
    topic, partition = next(iter(recording.full()))
    log = recording.by_partition[topic, partition]
    first = next(r for r in log if r.value is not None and b"user_state_changed" not in r.value)
    # a record whose ce_type header claims a user state change its body is not
    lying = tuple((k, b"livekit.agent.user_state_changed" if k == "ce_type" else v) for k, v in first.headers)
    log.append(dataclasses.replace(first, offset=len(log), headers=lying, timestamp=first.timestamp + 10**6))
    wanted = sorted(
        r.value
        for entries in recording.full().values()
        for r in entries
        if r.value is not None and b'"type":"livekit.agent.user_state_changed"' in r.value
    )
    out, err = io.StringIO(), io.StringIO()
    options = ReplayOptions(format="jsonl", filter=EventFilter(types=("*user_state*",)))
    stats = await replay(SETTINGS, options, out, err=err, source=source(recording))
    assert sorted(line.encode() for line in out.getvalue().splitlines()) == wanted
    assert stats.undecodable == 1
    assert "header_mismatch" in err.getvalue()


async def test_from_and_to(recording: Recording) -> None:
    start = AtTime(NOW.replace(second=1))  # 12:00:01: seq 5 of s-0 onwards
    stop = AtTime(NOW.replace(second=2))
    out = io.StringIO()
    await replay(
        SETTINGS, ReplayOptions(format="jsonl", start=start, stop=stop), out, source=source(recording)
    )
    times = [datetime.fromisoformat(json.loads(line)["time"]) for line in out.getvalue().splitlines()]
    assert min(times) == start.time, "--from a time includes records stamped at it"
    assert max(times) == stop.time, "--to a time includes records stamped at it"
    out = io.StringIO()
    await replay(SETTINGS, ReplayOptions(format="jsonl", start=FromEnd(1)), out, source=source(recording))
    assert len(out.getvalue().splitlines()) == sum(1 for log in recording.full().values() if log)
    out = io.StringIO()
    await replay(SETTINGS, ReplayOptions(format="jsonl", start=Offset(10**6)), out, source=source(recording))
    assert out.getvalue() == ""


async def test_json_lines_pass_current_events_on_as_they_were_written(recording: Recording) -> None:
    values = [r.value for log in recording.full().values() for r in log]
    topic, partition = next(iter(recording.full()))
    first = recording.full()[topic, partition][0]
    assert first.value is not None
    # the same event written over several lines (another producer's JSON): still one line out
    pretty = orjson.dumps(orjson.loads(first.value), option=orjson.OPT_INDENT_2)
    log = recording.by_partition[topic, partition]
    log.append(dataclasses.replace(first, offset=len(log), value=pretty, timestamp=first.timestamp + 10**6))
    out = io.StringIO()
    stats = await replay(SETTINGS, ReplayOptions(format="jsonl"), out, source=source(recording))
    lines = out.getvalue().splitlines()
    assert stats.shown == len(lines) == len(values) + 1
    assert sorted(line.encode() for line in lines[:-1]) == sorted(v for v in values if v is not None)
    assert lines[-1] == decode(first.value, first.headers).model_dump_json()


async def test_json_lines_to_a_file_are_utf8_after_what_it_held(recording: Recording, tmp_path: Path) -> None:
    topic, partition = next(iter(recording.full()))
    log = recording.by_partition[topic, partition]
    said = encode_event(
        "livekit.agent.user_input_transcribed",
        {"transcript": "un café, s'il vous plaît", "is_final": True},
        ctx("s-utf8"),
        1,
        T0 + 99,
    )
    log.append(Record(topic, partition, len(log), int(said.time * 1000), said.key, said.value, said.headers))
    path = tmp_path / "out.jsonl"
    with path.open("w", encoding="ascii") as out:  # a text file that could not hold the event
        out.write("first\n")
        stats = await replay(SETTINGS, ReplayOptions(format="jsonl"), out, source=source(recording))
    lines = path.read_bytes().split(b"\n")
    assert lines[0] == b"first"
    assert lines[-1] == b"", "every line ends"
    assert lines[-2] == said.value
    assert len(lines) == stats.shown + 2 == 45 + 2


async def test_garbage_records_are_reported_not_fatal(recording: Recording) -> None:
    topic = TOPICS[next(iter(TOPICS))]
    recording.add_raw(topic, 0, b"not json", timestamp=int(T0 * 1000) + 1)
    recording.add_raw(topic, 0, None, timestamp=int(T0 * 1000) + 2)
    recording.add_raw(topic, 0, b'{"type": "nope"}', timestamp=int(T0 * 1000) + 3)
    lines, _ = await run(recording, ReplayOptions())
    bad = [line for line in lines if line.startswith("undecodable")]
    offset = len(recording.by_partition[topic, 0]) - 3
    assert bad == [
        f"undecodable record at {topic}/0/{offset}: not_json: value is not valid UTF-8 JSON",
        f"undecodable record at {topic}/0/{offset + 1}: no value (a tombstone)",
        f"undecodable record at {topic}/0/{offset + 2}: "
        "unknown_type at type: no schema for event type 'nope'",
    ]
    out, err = io.StringIO(), io.StringIO()
    stats = await replay(SETTINGS, ReplayOptions(format="jsonl"), out, err=err, source=source(recording))
    assert (stats.undecodable, stats.shown) == (3, 44)
    assert len(err.getvalue().splitlines()) == 3, "JSON Lines stay clean: reports go to stderr"
    out = io.StringIO()
    stats = await replay(SETTINGS, ReplayOptions(format="jsonl", count=2), out, source=source(recording))
    assert stats.shown == len(out.getvalue().splitlines()) == 2, "--count holds across undecodable records"


async def test_follow_runs_until_stopped(recording: Recording) -> None:
    stop = asyncio.Event()
    out = io.StringIO()
    task = asyncio.create_task(
        replay(SETTINGS, ReplayOptions(format="jsonl", follow=True), out, source=source(recording), stop=stop)
    )
    await asyncio.sleep(0.05)
    assert not task.done()
    stop.set()
    stats = await asyncio.wait_for(task, 2)
    assert (stats.shown, stats.total) == (44, None)


async def test_option_errors() -> None:
    with pytest.raises(ReplayOptionError, match="--follow reads past the end"):
        ReplayOptions(follow=True, stop=Offset(3)).check()
    later, earlier = AtTime(NOW), AtTime(NOW.replace(hour=1))
    with pytest.raises(ReplayOptionError, match="is after --to"):
        ReplayOptions(start=later, stop=earlier).check()
    with pytest.raises(ReplayOptionError, match="loop forever"):
        await replay(SETTINGS, ReplayOptions(follow=True, to_topic="lk.user.state"), io.StringIO())


async def test_sessions_fold(recording: Recording) -> None:
    topic = TOPICS[next(iter(TOPICS))]
    open_session: list[EncodedRecord] = conversation(ctx("s-open"), T0 + 100)[:4]
    recording.add(open_session)
    recording.add_raw(topic, 1, b"garbage", timestamp=int(T0 * 1000))
    result = await sessions(SETTINGS, SessionsOptions(since=Beginning(), limit=3), source=source(recording))
    assert [s.session_id for s in result.sessions] == ["s-open", "s-3", "s-2"]
    latest, ended = result.sessions[0], result.sessions[1]
    assert (latest.close_reason, latest.ended, latest.events) == (None, False, 4)
    assert latest.duration_s == pytest.approx(0.75)
    assert (ended.ended, ended.close_reason, ended.events) == (True, "participant_disconnected", 11)
    assert ended.duration_s == pytest.approx(2.5)
    assert (ended.agent_name, ended.room_name) == ("a", "room-3")
    assert ended.started_at == datetime(2024, 5, 1, 12, 0, 0, 300_000, tzinfo=UTC)
    assert result.undecodable == 1
    assert result.read == 44 + 4 + 1
