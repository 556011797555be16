"""`lkbus replay` and `lkbus sessions` against real Kafka, over a recorded multi-session run.

The run: one real AgentSession (lkbus.sim) published by the EventPublisher, four hand-built
sessions two hours earlier (encoded with schemas.encode_event), and one garbage record.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from lkbus.errors import TopicError
from lkbus.kafka import client_options
from lkbus.replay import (
    AtTime,
    Beginning,
    End,
    EventFilter,
    FromEnd,
    Offset,
    PartitionOffsets,
    Position,
    ReplayOptions,
    SessionsOptions,
    TimelineRenderer,
    kafka_source,
    parse_position,
    replay,
    sessions,
)
from lkbus.replay.cli import app
from lkbus.replay.merge import TimestampMerger
from lkbus.settings import KafkaSettings, PublisherSettings, Settings, TopicSettings
from lkbus.sim import canonical_conversation, simulated_session
from lkbus.topic_reader import read_topics
from lkbus.topics import TopicSpec, create_topics, project_topics
from producers import EventPublisher
from schemas import EncodedRecord, Event, TopicFamily, decode
from tests.unit.replay.recording import conversation, ctx

HAND_BUILT = [f"hb-{i}" for i in range(4)]


@dataclass(frozen=True)
class Run:
    settings: Settings
    hand_built_start: float
    garbage: tuple[str, int, int]
    """topic, partition, offset of the garbage record."""

    @property
    def kafka(self) -> KafkaSettings:
        return self.settings.kafka

    @property
    def topics(self) -> list[str]:
        return list(self.settings.topics.event_topics)


@pytest.fixture(scope="module")
def run(bootstrap: str) -> Iterator[Run]:
    kafka = KafkaSettings(bootstrap_servers=bootstrap, client_id="lkbus-tests")
    topics = TopicSettings(prefix=f"test.replay.{uuid.uuid4().hex[:8]}.", partitions=3)
    settings = Settings(kafka=kafka, topics=topics)
    with tempfile.TemporaryDirectory() as folder:
        yield asyncio.run(_record(settings, Path(folder)))


async def _record(settings: Settings, folder: Path) -> Run:
    kafka, topics = settings.kafka, settings.topics
    await create_topics(kafka, project_topics(topics))
    family_topic = {
        TopicFamily.SESSION: topics.name(topics.session_events),
        TopicFamily.USER_STATE: topics.name(topics.user_state),
        TopicFamily.ROOM: topics.name(topics.room_events),
    }
    start = time.time() - 2 * 3600
    hand_built: list[EncodedRecord] = []
    for i, sid in enumerate(HAND_BUILT):
        context = ctx(sid, agent="billing" if i % 2 else "weather", room=f"room-{i}", who=f"user-{i}")
        hand_built += conversation(context, start + i * 0.1)
    hand_built.sort(key=lambda r: r.time)
    producer = AIOKafkaProducer(**client_options(kafka), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for r in hand_built:
            await producer.send(
                family_topic[r.family], r.value, key=r.key, headers=r.headers, timestamp_ms=int(r.time * 1000)
            )
        await producer.flush()
        journal = PublisherSettings(journal_dir=folder / "journal")
        async with EventPublisher(kafka, topics, journal) as publisher:
            async with simulated_session(
                before_start=lambda s: publisher.attach(
                    s, session_id="sim-1", agent_name="weather", room_name="room-sim"
                ),
                user_away_timeout=0.3,
            ) as sim:
                await canonical_conversation(sim)
            assert await publisher.flush(10)
        garbage = await producer.send_and_wait(
            family_topic[TopicFamily.SESSION], b"\x00not an event", key=b"sim-1", partition=0
        )
    finally:
        await producer.stop()
    return Run(settings, start, (garbage.topic, garbage.partition, garbage.offset))


async def jsonl(run: Run, options: ReplayOptions) -> list[dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    await replay(run.settings, options, out, err=err)
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def recorded(run: Run) -> list[tuple[Any, Event | None]]:
    records = await read_topics(run.kafka, run.topics)
    out: list[tuple[Any, Event | None]] = []
    for r in records:
        try:
            out.append((r, decode(r.value, r.headers)))
        except Exception:  # noqa: BLE001 - the garbage record
            out.append((r, None))
    return out


async def test_timeline_of_one_session_is_its_events_in_order(run: Run) -> None:
    events = sorted(
        (e for _, e in await recorded(run) if e is not None and e.session_id == "hb-1"),
        key=lambda e: e.seq or 0,
    )
    assert len(events) == 11
    renderer = TimelineRenderer(show_session=False)
    expected = [line for e in events for line in renderer.render(e)]
    out = io.StringIO()
    stats = await replay(run.settings, ReplayOptions(filter=EventFilter(sessions=("hb-1",))), out)
    assert out.getvalue().splitlines() == expected
    assert stats.shown == 11
    assert stats.total == stats.read
    assert "user listening → away" in out.getvalue()
    assert "tools lookup_weather" in out.getvalue()


async def test_real_session_replays_whole_with_each_topic_in_seq_order(run: Run) -> None:
    shown = await jsonl(run, ReplayOptions(format="jsonl", filter=EventFilter(sessions=("sim-1",))))
    seqs = [e["seq"] for e in shown]
    assert sorted(seqs) == list(range(1, len(seqs) + 1)), "every event once"
    user_state = [e["seq"] for e in shown if e["type"] == "livekit.agent.user_state_changed"]
    others = [e["seq"] for e in shown if e["type"] != "livekit.agent.user_state_changed"]
    assert user_state == sorted(user_state)
    assert others == sorted(others)
    times = [datetime.fromisoformat(e["time"]) for e in shown]
    assert len(user_state) >= 3
    assert times[0] == min(times)
    out = io.StringIO()
    await replay(run.settings, ReplayOptions(filter=EventFilter(sessions=("sim-1",))), out)
    timeline = out.getvalue()
    assert "user listening → away" in timeline
    assert 'user said "what is the weather in Paris"' in timeline
    assert "tools lookup_weather" in timeline
    assert "agent thinking → speaking" in timeline or "agent listening → speaking" in timeline


async def test_interleaved_sessions_are_merged_by_time(run: Run) -> None:
    shown = await jsonl(run, ReplayOptions(format="jsonl", filter=EventFilter(sessions=("hb-*",))))
    assert len(shown) == 44
    times = [datetime.fromisoformat(e["time"]) for e in shown]
    assert times == sorted(times)


@pytest.mark.parametrize(
    ("spec", "check"),
    [
        (EventFilter(types=("*user_state*",)), lambda e: e["type"] == "livekit.agent.user_state_changed"),
        (EventFilter(agents=("billing",)), lambda e: e["session_id"] in ("hb-1", "hb-3")),
        (EventFilter(rooms=("room-2",)), lambda e: e["session_id"] == "hb-2"),
        (EventFilter(participants=("user-3",)), lambda e: e["session_id"] == "hb-3"),
        (
            EventFilter(types=("close",), sessions=("hb-*",)),
            lambda e: e["type"] == "livekit.agent.close" and e["session_id"].startswith("hb-"),
        ),
    ],
)
async def test_filters(run: Run, spec: EventFilter, check: Any) -> None:
    everything = await jsonl(run, ReplayOptions(format="jsonl"))
    shown = await jsonl(run, ReplayOptions(format="jsonl", filter=spec))
    assert shown
    assert shown == [e for e in everything if check(e)]


async def test_every_from_and_to_form(run: Run) -> None:
    records = [r for r, _ in await recorded(run)]
    total = len(records)
    now = datetime.now(UTC)
    hand_built_start = datetime.fromtimestamp(run.hand_built_start, UTC)

    async def count(start: Position, stop: Position | None = None) -> int:
        out = io.StringIO()
        stats = await replay(run.settings, ReplayOptions(format="jsonl", start=start, stop=stop), out)
        return stats.read

    def where(predicate: Any) -> int:
        return sum(1 for r in records if predicate(r))

    partitions = len(run.topics) * 3
    assert await count(Beginning()) == total
    assert await count(End()) == 0
    assert await count(Beginning(), Beginning()) == 0
    assert await count(Offset(5)) == where(lambda r: r.offset >= 5)
    assert await count(Beginning(), Offset(5)) == where(lambda r: r.offset < 5)
    assert await count(FromEnd(2)) == sum(
        min(2, where(lambda r, k=k: (r.topic, r.partition) == k))
        for k in {(r.topic, r.partition) for r in records}
    )
    assert await count(PartitionOffsets(((1, 3),))) == where(lambda r: r.partition == 1 and r.offset >= 3)
    assert await count(PartitionOffsets(((0, 1),)), PartitionOffsets(((0, 4),))) == where(
        lambda r: r.partition == 0 and 1 <= r.offset < 4
    )
    assert partitions == 9
    # Times: the hand-built sessions are two hours old, the simulated one is recent.
    recent = where(lambda r: r.timestamp >= (now - timedelta(minutes=15)).timestamp() * 1000)
    assert await count(parse_position("-15m", now=now)) == recent
    assert await count(parse_position("-3h", now=now)) == total
    assert await count(Beginning(), parse_position("-1h", now=now)) == 44
    iso = (hand_built_start + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    cut = int((hand_built_start + timedelta(seconds=1)).timestamp() * 1000)
    assert await count(Beginning(), parse_position(iso, now=now)) == where(lambda r: r.timestamp <= cut)
    assert await count(parse_position(f"@{cut}", now=now)) == where(lambda r: r.timestamp >= cut)
    assert await count(parse_position("now", now=datetime.now(UTC) + timedelta(minutes=1))) == 0
    just_before = AtTime(hand_built_start - timedelta(milliseconds=1))
    assert await count(just_before, AtTime(hand_built_start + timedelta(seconds=1))) == where(
        lambda r: r.timestamp <= cut
    )


async def test_republish_keeps_keys_headers_and_order_per_partition(run: Run, kafka: KafkaSettings) -> None:
    target = f"{run.settings.topics.prefix}copy"
    await create_topics(kafka, [TopicSpec(target, 3, 1)])
    options = ReplayOptions(filter=EventFilter(sessions=("hb-*", "sim-*")), to_topic=target, speed=None)
    stats = await replay(run.settings, options, io.StringIO(), err=io.StringIO())
    source = [r for r, e in await recorded(run) if e is not None]
    copied = await read_topics(kafka, [target], expect=len(source))
    assert stats.shown == len(source) == len(copied)
    by_value = {r.value: r for r in source}
    for r in copied:
        original = by_value[r.value]
        assert r.key == original.key
        assert list(r.headers) == list(original.headers)
    position = {r.value: (r.topic, r.partition, r.offset) for r in source}
    for partition in range(3):
        in_target = sorted((r for r in copied if r.partition == partition), key=lambda r: r.offset)
        origins = [position[r.value] for r in in_target]
        for key in {(t, p) for t, p, _ in origins}:
            offsets = [o for t, p, o in origins if (t, p) == key]
            assert offsets == sorted(offsets), "each source partition's order survives"


async def test_republish_paces_by_record_time(run: Run, kafka: KafkaSettings) -> None:
    target = f"{run.settings.topics.prefix}paced"
    await create_topics(kafka, [TopicSpec(target, 1, 1)])
    hb0 = EventFilter(sessions=("hb-0",))
    started = time.monotonic()
    stats = await replay(run.settings, ReplayOptions(filter=hb0, to_topic=target, speed=10), io.StringIO())
    elapsed = time.monotonic() - started
    assert stats.shown == 11
    assert 0.25 <= elapsed < 2.5, "2.5 s of recorded events at 10x take about 0.25 s"


async def test_garbage_record_is_reported_not_fatal(run: Run) -> None:
    out = io.StringIO()
    stats = await replay(run.settings, ReplayOptions(filter=EventFilter(sessions=("sim-1",))), out)
    topic, partition, offset = run.garbage
    lines = out.getvalue().splitlines()
    bad = [line for line in lines if line.startswith("undecodable")]
    assert bad == [
        f"undecodable record at {topic}/{partition}/{offset}: not_json: value is not valid UTF-8 JSON"
    ]
    assert stats.undecodable == 1
    assert any("session.ended" in line for line in lines)


async def test_follow_shows_new_records_until_stopped(run: Run, kafka: KafkaSettings) -> None:
    stop = asyncio.Event()
    out = io.StringIO()
    options = ReplayOptions(format="jsonl", follow=True, filter=EventFilter(sessions=("live-*",)))
    task = asyncio.create_task(replay(run.settings, options, out, stop=stop))
    await asyncio.sleep(1.0)
    context = ctx("live-1")
    record = conversation(context, time.time())[0]
    producer = AIOKafkaProducer(**client_options(kafka))
    await producer.start()
    try:
        await producer.send_and_wait(run.topics[0], record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()
    deadline = time.monotonic() + 10
    while "live-1" not in out.getvalue() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a StringIO
        await asyncio.sleep(0.05)
    stop.set()
    stats = await asyncio.wait_for(task, 5)
    assert stats.shown == 1
    assert json.loads(out.getvalue())["session_id"] == "live-1"


async def test_sessions_lists_recent_sessions(run: Run) -> None:
    result = await sessions(run.settings, SessionsOptions(since=Beginning(), limit=10))
    by_id = {s.session_id: s for s in result.sessions}
    assert set(HAND_BUILT) | {"sim-1"} <= set(by_id)
    assert result.sessions[0].session_id in ("sim-1", "live-1")
    sim = by_id["sim-1"]
    assert (sim.agent_name, sim.room_name, sim.ended) == ("weather", "room-sim", True)
    assert sim.close_reason is not None
    assert (sim.duration_s or 0) > 0
    hb = by_id["hb-2"]
    assert (hb.events, hb.close_reason, hb.agent_name, hb.room_name) == (
        11,
        "participant_disconnected",
        "weather",
        "room-2",
    )
    recent = await sessions(run.settings, SessionsOptions(limit=10))
    assert "sim-1" in {s.session_id for s in recent.sessions}
    last_hour = await sessions(
        run.settings, SessionsOptions(since=parse_position("-1h", now=datetime.now(UTC)))
    )
    assert not set(HAND_BUILT) & {s.session_id for s in last_hour.sessions}


async def test_unknown_topics_are_one_clear_error(run: Run) -> None:
    with pytest.raises(TopicError, match=r"no such topic: nope\.nothing; `lkbus topics list`"):
        await replay(run.settings, ReplayOptions(topics=("nope.nothing",)), io.StringIO())
    with pytest.raises(TopicError, match=r"no such topic: nope\.target"):
        await replay(run.settings, ReplayOptions(to_topic="nope.target"), io.StringIO())


def test_cli_end_to_end(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LKBUS_KAFKA__BOOTSTRAP_SERVERS", run.kafka.bootstrap_servers)
    monkeypatch.setenv("LKBUS_TOPICS__PREFIX", run.settings.topics.prefix)
    runner = CliRunner()
    result = runner.invoke(app, ["replay", "--session", "hb-3", "--type", "*state*"])
    assert result.exit_code == 0, result.output
    assert "user listening → away" in result.output
    result = runner.invoke(app, ["replay", "--format", "jsonl", "--agent", "billing", "--count", "3"])
    assert result.exit_code == 0, result.output
    assert len([line for line in result.output.splitlines() if line.startswith("{")]) == 3
    plain = runner.invoke(app, ["replay", "--session", "sim-1"])
    redacted = runner.invoke(app, ["replay", "--session", "sim-1", "--redact"])
    assert plain.exit_code == redacted.exit_code == 0, redacted.output
    said = re.findall(r'"([^"]+)"', plain.output)
    assert said, "the real session's timeline quotes what was said"
    assert not any(text in redacted.output for text in said)
    assert "[redacted]" in redacted.output
    assert len(redacted.output.splitlines()) == len(plain.output.splitlines())
    result = runner.invoke(app, ["sessions", "--since", "beginning", "--json"])
    assert result.exit_code == 0, result.output
    ids = {json.loads(line)["session_id"] for line in result.output.splitlines() if line.startswith("{")}
    assert set(HAND_BUILT) <= ids
    for args, message in [
        (["replay", "--from", "garbage"], "--from 'garbage' is not a position"),
        (["replay", "--topic", "no.such.topic"], "no such topic: no.such.topic"),
        (["replay", "--from", "7:0"], "has no partition 7 (it has 3: 0..2)"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        errors = [line for line in result.output.splitlines() if line.strip()]
        assert len(errors) == 1, result.output
        assert errors[0].startswith("error: ")
        assert message in errors[0]


async def test_a_partition_held_back_by_the_merge_is_paused_not_read_whole(
    kafka: KafkaSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every event of partition 0 comes after every event of partition 1, so the merge holds
    partition 0 back until partition 1 is read: it is paused with a bounded buffer, not read
    whole into memory, and the output is still in time order."""
    monkeypatch.setattr(kafka_source, "MAX_BUFFERED", 100)
    topic = f"test.replay.held.{uuid.uuid4().hex[:8]}"
    await create_topics(kafka, [TopicSpec(topic, 2, 1)])
    per_partition = 6000
    base = time.time() - 3600
    producer = AIOKafkaProducer(**client_options(kafka), acks="all", linger_ms=5)
    smallest = None
    await producer.start()
    try:
        for partition, offset_s in ((0, 1800.0), (1, 0.0)):
            for i in range(per_partition):
                at = base + offset_s + i * 0.001
                record = conversation(ctx(f"held-{partition}-{i % 50}"), at)[0]
                size = len(record.key) + len(record.value) + sum(len(k) + len(v) for k, v in record.headers)
                smallest = size if smallest is None else min(smallest, size)
                await producer.send(
                    topic,
                    record.value,
                    key=record.key,
                    headers=record.headers,
                    partition=partition,
                    timestamp_ms=int(at * 1000),
                )
        await producer.flush()
    finally:
        await producer.stop()
    assert smallest is not None
    one_fetch = 1_048_576 // smallest + 1  # records in aiokafka's max_partition_fetch_bytes, at most

    peak = {0: 0, 1: 0}
    add = TimestampMerger.add

    def watched_add(self: TimestampMerger, tp: Any, records: Any) -> None:
        add(self, tp, records)
        peak[tp[1]] = max(peak[tp[1]], self.buffered(tp))

    monkeypatch.setattr(TimestampMerger, "add", watched_add)
    settings = Settings(kafka=kafka, topics=TopicSettings())
    out = io.StringIO()
    stats = await replay(settings, ReplayOptions(topics=(topic,), format="jsonl"), out)

    assert stats.read == stats.shown == 2 * per_partition
    times = [json.loads(line)["time"] for line in out.getvalue().splitlines()]
    assert times == sorted(times)
    assert per_partition > 100 + one_fetch, "the partition must be larger than its bound"
    assert 0 < peak[0] <= 100 + one_fetch, peak
