"""The publisher: cost on the agent's loop, sustained throughput, and loop stalls under load."""

from __future__ import annotations

import asyncio
import gc
import itertools
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from livekit.agents import AgentSession

from bench.__main__ import BenchKafka
from bench.event_mix import event_mix
from bench.report import BenchRow
from lkbus.broker.ephemeral import free_port
from lkbus.kafka import client_options
from lkbus.settings import KafkaSettings, PublisherSettings, TopicSettings
from lkbus.topics import create_topics, project_topics
from producers import EventPublisher
from schemas import SessionContext, encode_session_event

RUNS = 5
THROUGHPUT_EVENTS = 100_000
SESSIONS = 100
EVENTS_PER_SESSION_PER_S = 20
STALL_SECONDS = 5.0


def run(kafka: BenchKafka) -> list[BenchRow]:
    return asyncio.run(_run(KafkaSettings(bootstrap_servers=kafka.bootstrap, client_id="lkbus-bench")))


async def _run(kafka: KafkaSettings) -> list[BenchRow]:
    topics = TopicSettings(prefix=f"bench.{uuid.uuid4().hex[:8]}.", partitions=6)
    await create_topics(kafka, project_topics(topics))
    rows = await _handler_cost(kafka, topics)
    rows.append(await _throughput(kafka, topics))
    rows += await _stalls(kafka, topics)
    return rows


def _publisher(kafka: KafkaSettings, topics: TopicSettings, folder: str, **overrides: Any) -> EventPublisher:
    return EventPublisher(kafka, topics, PublisherSettings(journal_dir=Path(folder) / "journal", **overrides))


async def _handler_cost(kafka: KafkaSettings, topics: TopicSettings) -> list[BenchRow]:
    """Handler call → return on the agent's loop, per event, beside encoding alone."""
    mix = event_mix()
    context = SessionContext(session_id="bench", agent_name="bench", source="bench")
    with tempfile.TemporaryDirectory() as folder:
        async with _publisher(kafka, topics, folder) as publisher:
            session: AgentSession[Any] = AgentSession()
            publication = publisher.attach(session, session_id="bench-handler")
            handlers = {name: h for emitter, name, h in publication._handlers if emitter is session}
            calls = [(handlers[type(e).model_fields["type"].default], e) for e in mix]
            handler_samples: list[float] = []
            encode_samples: list[float] = []
            for _ in range(RUNS * 400):
                for handler, event in calls:
                    start = time.perf_counter_ns()
                    handler(event)
                    handler_samples.append(time.perf_counter_ns() - start)
                for seq, (_, event) in enumerate(calls):
                    start = time.perf_counter_ns()
                    encode_session_event(event, context, seq + 1)
                    encode_samples.append(time.perf_counter_ns() - start)
                await asyncio.sleep(0)
            await publisher.flush(30)
    return [
        BenchRow(
            "agent-loop cost per event, median",
            _pct(handler_samples, 50),
            _pct(encode_samples, 50),
            "µs",
            "encode alone",
            "",
        ),
        BenchRow(
            "agent-loop cost per event, p99",
            _pct(handler_samples, 99),
            _pct(encode_samples, 99),
            "µs",
            "encode alone",
            "",
        ),
    ]


def _pct(samples_ns: list[float], p: int) -> float:
    ordered = sorted(samples_ns)
    return ordered[min(len(ordered) - 1, len(ordered) * p // 100)] / 1000


async def _throughput(kafka: KafkaSettings, topics: TopicSettings) -> BenchRow:
    """Events/s delivered with acks=all: our publisher beside a bare aiokafka producer, same records."""
    context = SessionContext(session_id="x", agent_name="bench", source="bench")
    mix = event_mix()
    records = [
        encode_session_event(
            mix[i % len(mix)],
            SessionContext(session_id=f"s{i % 1000}", agent_name=context.agent_name, source=context.source),
            i + 1,
        )
        for i in range(THROUGHPUT_EVENTS)
    ]
    ours: list[float] = []
    bare: list[float] = []
    settings = PublisherSettings()
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as folder:
            # The buffer holds the whole burst, so this measures delivery, not the spill path.
            async with _publisher(kafka, topics, folder, buffer_max_events=len(records)) as publisher:
                start = time.perf_counter()
                for record in records:
                    publisher.publish(record)
                await publisher.flush(120)
                ours.append(len(records) / (time.perf_counter() - start))
                assert publisher.stats().produced == len(records), publisher.stats()
        topic = topics.name(topics.session_events)
        producer = AIOKafkaProducer(
            **client_options(kafka),
            acks="all",
            enable_idempotence=True,
            compression_type=settings.compression,
            linger_ms=settings.linger_ms,
            max_batch_size=settings.max_batch_bytes,
        )
        await producer.start()
        try:
            start = time.perf_counter()
            for chunk in range(0, len(records), 4000):
                futures = [
                    await producer.send(
                        topic, r.value, key=r.key, headers=r.headers, timestamp_ms=int(r.time * 1000)
                    )
                    for r in records[chunk : chunk + 4000]
                ]
                await asyncio.gather(*futures)
            bare.append(len(records) / (time.perf_counter() - start))
        finally:
            await producer.stop()
    return BenchRow(
        "sustained throughput, acks=all",
        statistics.median(ours),
        statistics.median(bare),
        "events/s",
        "bare aiokafka producer",
        ">= 0.9x",
    )


class _GcPauses:
    """The longest cyclic-GC pause while active (a full collection stops every thread)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started = 0.0

    def __enter__(self) -> _GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.longest = max(self.longest, (time.perf_counter() - self._started) * 1000)


@dataclass(slots=True)
class _Stalls:
    """Largest loop stall and longest GC pause of each run of one variant."""

    stalls: list[float] = field(default_factory=list)
    gc_pauses: list[float] = field(default_factory=list)

    def rows(self, label: str, baseline: _Stalls, baseline_name: str, target: str) -> list[BenchRow]:
        return [
            BenchRow(
                f"largest loop stall, {SESSIONS} sessions, {label}",
                statistics.median(self.stalls),
                statistics.median(baseline.stalls),
                "ms",
                baseline_name,
                target,
            ),
            BenchRow(
                f"longest GC pause in those runs, {label}",
                max(self.gc_pauses),
                max(baseline.gc_pauses),
                "ms",
                baseline_name,
                "",
            ),
        ]


async def _stalls(kafka: KafkaSettings, topics: TopicSettings) -> list[BenchRow]:
    """Largest loop stall while 100 sessions publish at 20 events/s each: Kafka up, and Kafka away.

    Baselines: the same load with no publisher, and (for Kafka up, where the broker shares this
    machine's cores) the same load sent by a bare aiokafka producer from the agent's loop, the
    stall that Kafka traffic itself costs here.
    """
    # A job process of a livekit-agents worker starts with its preloaded heap frozen
    # (livekit.agents.ipc._preload_freeze); without that, a full collection of the SDK's
    # objects stops the loop for 100 ms or more, with or without a publisher.
    gc.collect()
    gc.freeze()
    try:
        none, bare, up, away = _Stalls(), _Stalls(), _Stalls(), _Stalls()
        unreachable = _unreachable(kafka)
        for _ in range(3):  # interleaved, so drift on the shared machine hits every variant alike
            await _measure(none, None)
            async with _BareProducer(kafka, topics) as producer:
                await _measure(bare, producer)
            for variant, target in ((up, kafka), (away, unreachable)):
                with tempfile.TemporaryDirectory() as folder:
                    async with _publisher(target, topics, folder, send_timeout_s=1) as publisher:
                        await _measure(variant, publisher)
        return [
            *up.rows("Kafka up", none, "same load, no publisher", "<= 5 ms"),
            *up.rows("Kafka up", bare, "same load, bare aiokafka producer", ""),
            *away.rows("Kafka away (spilling)", none, "same load, no publisher", "<= 5 ms"),
        ]
    finally:
        gc.unfreeze()


async def _measure(into: _Stalls, sender: EventPublisher | _BareProducer | None) -> None:
    gc.collect()  # the sessions of earlier runs are cyclic garbage: not this run's pauses
    with _GcPauses() as pauses:
        into.stalls.append(await _largest_stall(sender))
    into.gc_pauses.append(pauses.longest)


class _BareProducer:
    """What an agent without this library might do: encode each event and `send` it from the
    agent's loop with a plain aiokafka producer (same encoding and producer settings)."""

    def __init__(self, kafka: KafkaSettings, topics: TopicSettings) -> None:
        s = PublisherSettings()
        self._topic = topics.name(topics.session_events)
        self._producer = AIOKafkaProducer(
            **client_options(kafka),
            acks="all",
            enable_idempotence=True,
            compression_type=s.compression,
            linger_ms=s.linger_ms,
            max_batch_size=s.max_batch_bytes,
        )
        self._pending: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> _BareProducer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*self._pending)
        await self._producer.stop()

    def attach(self, session: AgentSession[Any], session_id: str) -> None:
        context = SessionContext(session_id=session_id, agent_name="bench", source="bench")
        seq = itertools.count(1)
        loop = asyncio.get_running_loop()

        def handler(event: Any) -> None:
            record = encode_session_event(event, context, next(seq))
            task = loop.create_task(
                self._producer.send(self._topic, record.value, key=record.key, headers=record.headers)
            )
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

        for name in {type(event).model_fields["type"].default for event in event_mix()}:
            session.on(name, handler)


def _unreachable(kafka: KafkaSettings) -> KafkaSettings:
    return kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{free_port()}"})


async def _largest_stall(sender: EventPublisher | _BareProducer | None) -> float:
    mix = event_mix()
    sessions: list[AgentSession[Any]] = [AgentSession() for _ in range(SESSIONS)]
    if sender is not None:
        for i, session in enumerate(sessions):
            sender.attach(session, session_id=f"stall-{i}")
    largest = 0.0
    stop = time.monotonic() + STALL_SECONDS

    async def emitter(session: AgentSession[Any], offset: int) -> None:
        i = offset
        while time.monotonic() < stop:
            event: Any = mix[i % len(mix)]
            session.emit(type(event).model_fields["type"].default, event)
            i += 1
            await asyncio.sleep(1 / EVENTS_PER_SESSION_PER_S)

    async def ticker() -> None:
        nonlocal largest
        while time.monotonic() < stop:
            before = time.perf_counter()
            await asyncio.sleep(0.002)
            largest = max(largest, time.perf_counter() - before - 0.002)

    await asyncio.gather(ticker(), *(emitter(s, i) for i, s in enumerate(sessions)))
    return largest * 1000
