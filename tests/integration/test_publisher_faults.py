"""The publisher when Kafka goes away, when the worker is killed, and when the SDK hands it junk."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.producer.sender import Sender

from lkbus.broker import LocalBroker
from lkbus.broker.ephemeral import free_port
from lkbus.settings import BrokerSettings, KafkaSettings, PublisherSettings, TopicSettings
from lkbus.sim import EventLog, simulated_session
from lkbus.topic_reader import read_topics
from lkbus.topics import create_topics, project_topics
from producers import EventPublisher
from producers.commands import CommandListener
from schemas import SessionContext, decode, encode_event


class LoopStallMeter:
    """Largest lateness of a 5 ms ticker on the agent's loop, and how many ticks it made."""

    def __init__(self) -> None:
        self.largest = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            self.ticks += 1
            self.largest = max(self.largest, time.perf_counter() - before - 0.005)

    def __enter__(self) -> LoopStallMeter:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


@pytest.fixture
async def own_broker(tmp_path: Path) -> AsyncIterator[LocalBroker]:
    """A broker this test may stop and start (never the shared one)."""
    broker = LocalBroker(
        BrokerSettings(
            data_dir=tmp_path / "broker",
            port=free_port(),
            controller_port=free_port(),
            jars_dir=Path(".lkbus/kafka-jars").resolve(),
        )
    )
    await broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def project_on(broker: LocalBroker, prefix: str) -> tuple[KafkaSettings, TopicSettings]:
    """Settings for `broker` and the project's topics created on it under `prefix`."""
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap)
    topics = TopicSettings(prefix=prefix + ".", partitions=3)
    await create_topics(kafka, project_topics(topics))
    return kafka, topics


async def seqs_in_kafka(kafka: KafkaSettings, topics: TopicSettings, session_id: str) -> list[int]:
    """The session's seqs, sorted; asserts that each topic holds them in increasing order."""
    records = [r for r in await read_topics(kafka, list(topics.event_topics)) if r.key == session_id.encode()]
    for topic in topics.event_topics:
        in_topic = sorted((r for r in records if r.topic == topic), key=lambda r: (r.partition, r.offset))
        seqs = [decode(r.value, r.headers).seq or 0 for r in in_topic]
        assert seqs == sorted(seqs), f"{topic}: records out of order: {seqs}"
    return sorted(decode(r.value, r.headers).seq or 0 for r in records)


async def test_kafka_away_mid_conversation_loses_nothing(
    own_broker: LocalBroker, tmp_path: Path, unique: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    test_started = time.monotonic()
    kafka, topics = await project_on(own_broker, unique("outage"))
    settings = PublisherSettings(journal_dir=tmp_path / "journal", send_timeout_s=1)
    log = EventLog()
    async with EventPublisher(kafka, topics, settings) as publisher:

        def attach(session: Any) -> None:
            log.attach(session)
            publisher.attach(session, session_id="outage-1")

        async with simulated_session(before_start=attach, user_away_timeout=0.3) as sim:
            with LoopStallMeter() as stalls:
                sim.llm.script("Hello.")
                await sim.user_says("hello")
                await sim.wait_for_agent_idle()
                await asyncio.to_thread(own_broker.stop)
                turns = 0
                while publisher.stats().kafka_available or turns < 3:
                    assert turns < 100, "the publisher never noticed that Kafka was away"
                    sim.llm.script(f"Answer {turns}.")
                    await sim.user_says(f"question {turns} while Kafka is away")
                    await sim.wait_for_agent_idle()
                    turns += 1
                await sim.wait_for_user_state("away")
                spilled_while_away = publisher.stats().spilled
                ticks_while_away = stalls.ticks
                await asyncio.to_thread(asyncio.run, own_broker.start())
                sim.llm.script("Welcome back.")
                await sim.user_says("I am back")
                await sim.wait_for_agent_idle()
                await sim.close()
        assert await publisher.flush(30)
        deadline = time.monotonic() + 60
        while not publisher.stats().kafka_available or publisher.stats().journal_bytes:
            assert time.monotonic() < deadline, f"journal never drained: {publisher.stats()}"
            await asyncio.sleep(0.2)
        stats = publisher.stats()
    expected = len(log) + 2
    assert spilled_while_away > 0, "events spilled while Kafka was away"
    assert stats.resent >= spilled_while_away
    assert stats.dropped == 0
    assert await seqs_in_kafka(kafka, topics, "outage-1") == list(range(1, expected + 1)), (
        "every event once: none lost, none duplicated"
    )
    assert ticks_while_away > 0, "the agent's loop kept running while Kafka was away"
    # Each kind of Kafka client line once per minute from the publisher's thread (hundreds otherwise).
    client_lines = Counter(
        (r.name, r.msg)
        for r in caplog.records
        if r.name.startswith("aiokafka") and r.threadName == "lkbus-publisher"
    )
    assert client_lines, "the client's first lines still go through"
    assert max(client_lines.values()) <= 1 + (time.monotonic() - test_started) // 60, client_lines
    print(f"largest agent-loop stall during the outage: {stalls.largest * 1000:.1f} ms")


async def test_closing_while_a_batch_waits_for_kafka_journals_it_and_the_next_start_sends_it(
    own_broker: LocalBroker, tmp_path: Path, unique: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    kafka, topics = await project_on(own_broker, unique("stuck"))
    # The batch would be retried for 10 minutes; closing must not wait for that.
    settings = PublisherSettings(
        journal_dir=tmp_path / "journal", send_timeout_s=1, flush_timeout_s=2, in_flight_retry_s=600
    )
    ctx = SessionContext(session_id="stuck-1", agent_name="agent", source="test")
    publisher = EventPublisher(kafka, topics, settings)
    await publisher.start()
    publisher.publish(encode_event("lkbus.session.started", {"agent_name": "agent"}, ctx, 1, time.time()))
    assert await publisher.flush(10)
    await asyncio.to_thread(own_broker.stop)
    for seq in range(2, 6):
        publisher.publish(
            encode_event("lkbus.session.ended", {"reason": "r", "last_seq": seq}, ctx, seq, time.time())
        )
    await asyncio.sleep(2)  # past send_timeout_s: the batch is stuck, Kafka counts as away
    await stop_or_say_where_it_hangs(publisher)
    assert publisher.stats().journal_bytes > 0
    loop_errors = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert not loop_errors, "the Kafka client was closed cleanly"
    await own_broker.start()
    async with EventPublisher(kafka, topics, settings.model_copy(update={"in_flight_retry_s": 10})) as second:
        deadline = time.monotonic() + 60
        while not second.stats().kafka_available or second.stats().journal_bytes:
            assert time.monotonic() < deadline, f"journal never drained: {second.stats()}"
            await asyncio.sleep(0.2)
    assert await seqs_in_kafka(kafka, topics, "stuck-1") == [1, 2, 3, 4, 5]


async def stop_or_say_where_it_hangs(publisher: EventPublisher, timeout: float = 60) -> None:
    """`publisher.stop()`; a hang detector, not a timing: when it does not return, the test fails
    with what each task of the publisher's loop was waiting on."""
    try:
        await asyncio.wait_for(publisher.stop(), timeout)
    except TimeoutError:
        pytest.fail(
            f"stop() did not return in {timeout:.0f} s; the publisher's tasks:\n{_tasks_on(publisher)}"
        )


def _tasks_on(publisher: EventPublisher) -> str:
    loop = publisher._loop
    if loop is None or loop.is_closed():
        return "(its loop is closed)"
    out = io.StringIO()
    try:
        tasks = list(asyncio.all_tasks(loop))  # read from this thread: only for the report
    except RuntimeError:
        return "(its tasks changed while they were read)"
    for task in tasks:
        task.print_stack(file=out)
    return out.getvalue()


def stop_broker_once_the_listener_found_its_partitions(
    broker: LocalBroker, monkeypatch: pytest.MonkeyPatch
) -> threading.Event:
    """The command listener's next step, pinning the topic's end, then waits for Kafka."""
    find_partitions = CommandListener._partitions
    broker_gone = threading.Event()

    async def broker_goes_away_first(listener: CommandListener) -> list[TopicPartition]:
        partitions = await find_partitions(listener)
        if not broker_gone.is_set():
            await asyncio.to_thread(broker.stop)
            broker_gone.set()
        return partitions

    monkeypatch.setattr(CommandListener, "_partitions", broker_goes_away_first)
    return broker_gone


async def test_stopping_while_the_command_listener_waits_for_kafka_returns(
    own_broker: LocalBroker, tmp_path: Path, unique: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka, topics = await project_on(own_broker, unique("listener"))
    monkeypatch.setattr("producers.commands._PIN_END_TIMEOUT_S", 600)
    broker_gone = stop_broker_once_the_listener_found_its_partitions(own_broker, monkeypatch)
    publisher = EventPublisher(kafka, topics, PublisherSettings(journal_dir=tmp_path / "journal"))
    await publisher.start()
    assert await asyncio.to_thread(broker_gone.wait, 60)
    # A hang detector, not a timing: the listener would otherwise wait for Kafka forever.
    await stop_or_say_where_it_hangs(publisher)
    assert publisher.stats().dropped == 0


async def test_stopping_while_the_publisher_waits_for_its_producer_id_returns(
    own_broker: LocalBroker, tmp_path: Path, unique: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker goes away between the producer's first metadata and its producer id, which
    aiokafka asks for again and again without end while the broker is away."""
    kafka, topics = await project_on(own_broker, unique("pid"))
    ask_for_pid = Sender._maybe_wait_for_pid
    broker_gone = threading.Event()

    async def broker_goes_away_first(sender: Sender) -> None:
        if not broker_gone.is_set():
            await asyncio.to_thread(own_broker.stop)
            broker_gone.set()
        await ask_for_pid(sender)

    monkeypatch.setattr(Sender, "_maybe_wait_for_pid", broker_goes_away_first)
    settings = PublisherSettings(
        journal_dir=tmp_path / "journal", send_timeout_s=2, flush_timeout_s=2, commands=False
    )
    publisher = EventPublisher(kafka, topics, settings)
    await publisher.start()
    assert await asyncio.to_thread(broker_gone.wait, 60)
    ctx = SessionContext(session_id="pid-1", agent_name="agent", source="test")
    publisher.publish(encode_event("lkbus.session.started", {"agent_name": "agent"}, ctx, 1, time.time()))
    await stop_or_say_where_it_hangs(publisher)
    stats = publisher.stats()
    assert (stats.dropped, stats.spilled, stats.kafka_available) == (0, 1, False)


async def test_the_command_listener_gives_up_waiting_for_kafka_and_starts_again(
    own_broker: LocalBroker,
    tmp_path: Path,
    unique: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """aiokafka retries the listener's offset lookups without pause while the broker is away."""
    kafka, topics = await project_on(own_broker, unique("listener"))
    monkeypatch.setattr("producers.commands._PIN_END_TIMEOUT_S", 1)
    broker_gone = stop_broker_once_the_listener_found_its_partitions(own_broker, monkeypatch)
    async with EventPublisher(
        kafka, topics, PublisherSettings(journal_dir=tmp_path / "journal")
    ) as publisher:
        assert await asyncio.to_thread(broker_gone.wait, 60)
        deadline = time.monotonic() + 60
        while "command listener lost Kafka (TimeoutError)" not in caplog.text:
            assert time.monotonic() < deadline, "the listener never gave up waiting"
            await asyncio.sleep(0.1)
        await own_broker.start()
        await publisher.commands_ready(60)


_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from lkbus.settings import KafkaSettings, PublisherSettings, TopicSettings
    from lkbus.sim import simulated_session
    from producers import EventPublisher

    async def main() -> None:
        kafka = KafkaSettings(bootstrap_servers=sys.argv[1])
        topics = TopicSettings(prefix=sys.argv[2])
        settings = PublisherSettings(journal_dir=Path(sys.argv[3]), send_timeout_s=1)
        publisher = EventPublisher(kafka, topics, settings)
        await publisher.start()
        async with simulated_session(
            before_start=lambda s: publisher.attach(s, session_id="crash-1"), user_away_timeout=None
        ) as sim:
            for i in range(1000):
                sim.llm.script(f"Reply {i}.")
                await sim.user_says(f"turn {i}")
                await sim.wait_for_agent_idle()
                print(publisher.stats().spilled, flush=True)
    asyncio.run(main())
    """
)


async def test_journal_of_a_killed_worker_is_sent_by_the_next(
    kafka: KafkaSettings, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    topics = TopicSettings(prefix=unique("crash") + ".", partitions=3)
    await create_topics(kafka, project_topics(topics))
    journal = tmp_path / "journal"
    dead_kafka = f"127.0.0.1:{free_port()}"
    spilled = 0
    with subprocess.Popen(
        [sys.executable, "-c", _WORKER, dead_kafka, topics.prefix, str(journal)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as worker:
        try:
            assert worker.stdout is not None
            for line in worker.stdout:
                spilled = int(line)
                if spilled >= 60:
                    break
        finally:
            os.kill(worker.pid, signal.SIGKILL)
    assert spilled >= 60, "the worker spilled to its journal while Kafka was unreachable"
    assert list(journal.glob("*.journal")), "the killed worker left its journal"

    async with EventPublisher(kafka, topics, PublisherSettings(journal_dir=journal)) as publisher:
        deadline = time.monotonic() + 60
        while publisher.stats().journal_bytes or publisher.stats().resent < spilled:
            assert time.monotonic() < deadline, f"journal not sent: {publisher.stats()}"
            await asyncio.sleep(0.1)
    seqs = await seqs_in_kafka(kafka, topics, "crash-1")
    assert len(seqs) >= spilled, "everything journaled before the kill arrived"
    assert seqs == list(range(1, len(seqs) + 1)), "in order, no gap, no duplicate"


async def test_handlers_never_raise_into_the_sdk(
    kafka: KafkaSettings, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    topics = TopicSettings(prefix=unique("junk") + ".", partitions=1)
    await create_topics(kafka, project_topics(topics))
    async with EventPublisher(kafka, topics, PublisherSettings(journal_dir=tmp_path / "j")) as publisher:
        async with simulated_session(
            before_start=lambda s: publisher.attach(s, session_id="junk-1"), user_away_timeout=None
        ) as sim:
            for name in (
                "user_state_changed",
                "agent_state_changed",
                "conversation_item_added",
                "error",
                "close",
            ):
                junk: Any = object()
                sim.session.emit(name, junk)  # a TypeError from our handler would reach the SDK
                sim.session.emit(name, None)  # type: ignore[arg-type]
            sim.llm.script("Still fine.")
            await sim.user_says("are you ok")
            await sim.wait_for_agent_idle()
            await sim.close()
        assert await publisher.flush(10)
    seqs = await seqs_in_kafka(kafka, topics, "junk-1")
    assert seqs == list(range(1, len(seqs) + 1)), "junk leaves no gap in seq"
    assert len(seqs) > 5, "the real events around the junk were published"


async def test_a_worker_killed_while_kafka_is_away_loses_nothing_in_flight(
    own_broker: LocalBroker, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    """The batch aiokafka holds when the broker goes away is journaled too: a SIGKILL then loses none."""
    kafka = KafkaSettings(bootstrap_servers=own_broker.bootstrap)
    topics = TopicSettings(prefix=unique("inflight") + ".", partitions=3)
    await create_topics(kafka, project_topics(topics))
    journal = tmp_path / "journal"
    worker_code = _WORKER.replace("send_timeout_s=1", "send_timeout_s=1, buffer_max_events=100000")
    spilled = 0
    with subprocess.Popen(
        [sys.executable, "-c", worker_code, kafka.bootstrap_servers, topics.prefix, str(journal)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as worker:
        try:
            assert worker.stdout is not None
            lines = iter(worker.stdout)
            for _ in range(5):
                next(lines)  # a few turns delivered while Kafka is up
            await asyncio.to_thread(own_broker.stop)
            for line in lines:
                spilled = int(line)
                if spilled >= 30:
                    break
        finally:
            os.kill(worker.pid, signal.SIGKILL)
    assert spilled >= 30
    await own_broker.start()
    async with EventPublisher(kafka, topics, PublisherSettings(journal_dir=journal)) as publisher:
        deadline = time.monotonic() + 60
        while publisher.stats().resent == 0 or publisher.stats().journal_bytes:
            assert time.monotonic() < deadline, f"journal not sent: {publisher.stats()}"
            await asyncio.sleep(0.1)
        resent = publisher.stats().resent
    seqs = sorted(set(await seqs_in_kafka(kafka, topics, "crash-1")))
    assert resent > 0, "the killed worker's journal was sent"
    assert seqs == list(range(1, len(seqs) + 1)), "no gap: the batch in flight was journaled before the kill"
