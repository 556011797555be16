"""Scenario 7: malformed records mixed into real traffic, and a hypothesis fuzz of the decoder."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from consumers.analytics.service import AnalyticsConsumer
from consumers.inactivity.service import InactivityConsumer
from consumers.runtime import ConsumerService
from consumers.runtime.deadletter import error_context
from lkbus.kafka import client_options
from lkbus.topic_reader import read_topics
from reliability.audit import audit, read_stream
from reliability.fleet import WorkerProcess
from reliability.fuzz import fuzz_decode
from reliability.malformed import MalformedFactory
from reliability.report import ScenarioResult
from reliability.scenarios.base import Context, apply_audit, cpu_notes, ensure_broker, worker_config
from reliability.scenarios.consumers import (
    ARCHIVAL_MISSING,
    archival_available,
    archived,
    setup,
    stored,
)

Coordinates = tuple[str, int, int]


async def bad_input(ctx: Context) -> ScenarioResult:
    """7. Every malformed record dead-lettered with its reason, no consumer down, every good one processed."""
    p = ctx.params
    result = ScenarioResult("7. Bad input")
    await ensure_broker(ctx)
    topics = await ctx.cluster.topics("bad")
    s = setup(ctx, topics, "bad")
    services = {
        "inactivity": ConsumerService(InactivityConsumer(), s.settings),
        "analytics": ConsumerService(AnalyticsConsumer(), s.settings),
    }
    if archival_available():
        from consumers.archival import ArchivalConsumer, ArchivalSettings

        services["archival"] = ConsumerService(
            ArchivalConsumer(ArchivalSettings(root=str(s.archive_root), max_age_s=1, tick_s=0.2)), s.settings
        )
    duration = max(20.0, p.consumer_minutes * 60)
    config = worker_config(ctx, topics, "bad", chatty=p.crash_sessions, duration_s=duration)
    keys = [f"bad-c{i:04d}".encode() for i in range(p.crash_sessions)]
    factory = MalformedFactory(p.seed, keys)
    sent: dict[Coordinates, str] = {}
    for service in services.values():
        await service.start()
    worker = WorkerProcess(config, s.folder / "worker.log")
    await worker.start()
    producer = AIOKafkaProducer(
        **client_options(ctx.cluster.kafka), acks="all", enable_idempotence=True, max_request_size=1 << 20
    )
    await producer.start()
    try:
        chunk = 250
        pause = duration / max(1, p.malformed // chunk) * 0.8
        while len(sent) < p.malformed:
            futures = []
            for _ in range(min(chunk, p.malformed - len(sent))):
                record = factory.make()
                topic = factory.rng.choice(topics.event_topics)
                future = await producer.send(topic, record.value, key=record.key, headers=record.headers)
                futures.append((record.kind, future))
            for kind, future in futures:
                metadata = await future
                sent[(metadata.topic, metadata.partition, metadata.offset)] = kind
            await asyncio.sleep(pause)
    finally:
        await producer.stop()
    try:
        final = await worker.finish(duration + config.drain_timeout_s + 60)
        subscribed = {
            name: set(service.consumer.subscriptions(s.settings)) for name, service in services.items()
        }
        expected = {
            name: {c for c in sent if c[0] in subscribed[name]} for name in ("inactivity", "analytics")
        }
        caught_up = await wait_while_progressing(
            lambda: (
                all(services[n].dead_lettered >= len(expected[n]) for n in expected)
                and summaries(s) >= len(final["seqs"])
            ),
            lambda: sum(x.processed + x.dead_lettered for x in services.values()),
        )
        await asyncio.sleep(2)
        processed = {name: service.processed for name, service in services.items()}
    finally:
        worker.kill()
        for service in services.values():
            await service.stop()

    result.load = (
        f"{len(final['seqs'])} sessions × {final['conversations_s']:.0f} s + {len(sent):,} malformed"
    )
    kinds = Counter(sent.values())
    result.faults = (
        f"{len(sent):,} malformed records in {len(kinds)} kinds, fuzz {p.fuzz_examples:,} examples"
    )
    result.notes.append("malformed kinds: " + ", ".join(f"{k} {n:,}" for k, n in sorted(kinds.items())))
    result.check("the consumers caught up", caught_up, f"caught up={caught_up}")

    stream = await read_stream(ctx.cluster.kafka, topics, skip=set(sent))
    apply_audit(result, audit(stream, final["seqs"]), final["stats"]["dropped"])

    letters = await read_topics(ctx.cluster.kafka, [topics.name(topics.deadletter)], timeout_s=300)
    by_consumer: dict[str, Counter[Coordinates]] = {}
    reasons: Counter[str] = Counter()
    without_reason = 0
    for letter in letters:
        context = error_context(letter.headers)
        where = (context.get("topic", ""), int(context.get("partition", -1)), int(context.get("offset", -1)))
        by_consumer.setdefault(context.get("consumer", "?"), Counter())[where] += 1
        if context.get("reason"):
            reasons[context["reason"]] += 1
        else:
            without_reason += 1
    for name, wanted in expected.items():
        got = by_consumer.get(name, Counter())
        missing = len(wanted - set(got))
        good = sum(1 for c in got if c not in sent)
        twice = sum(n - 1 for n in got.values() if n > 1)
        result.check(
            f"{name}: every malformed record dead-lettered, no good one",
            missing == 0 and good == 0,
            f"{len(wanted):,} malformed on its topics, {len(got):,} dead-lettered, {missing} missing, "
            f"{good} good records dead-lettered, {twice} dead-lettered twice",
        )
    result.check(
        "every dead letter carries its reason and error class",
        without_reason == 0 and len(letters) > 0,
        f"{len(letters):,} dead letters, {without_reason} without a reason; reasons: "
        + ", ".join(f"{r} {n:,}" for r, n in sorted(reasons.items())),
    )
    on_topics = await read_topics(ctx.cluster.kafka, list(topics.event_topics), timeout_s=300)
    per_topic = Counter(r.topic for r in on_topics)
    short = {
        n: (processed[n], sum(per_topic[t] for t in subscribed[n]))
        for n in services
        if processed[n] < sum(per_topic[t] for t in subscribed[n])
    }
    result.check(
        "no consumer crashed: each read every record of its topics",
        not short,
        "records handled: "
        + ", ".join(f"{n} {processed[n]:,}" for n in services)
        + (f"; short: {short}" if short else ""),
    )
    sessions, _ = await asyncio.to_thread(stored, s.db)
    exact = sum(
        1
        for summary in sessions
        if summary["session_id"] in final["seqs"]
        and summary["events"] == final["seqs"][summary["session_id"]]
        and summary["missing"] == 0
        and summary["duplicates"] == 0
    )
    result.check(
        "every good record processed: each session's analytics summary counts all its events",
        exact == len(final["seqs"]),
        f"{exact}/{len(final['seqs'])} summaries with every event, none missing or twice",
    )
    if archival_available():
        copies = await asyncio.to_thread(archived, s.archive_root)
        from consumers.archival import iter_archived

        invalid = await asyncio.to_thread(
            lambda: sum(1 for r in iter_archived(s.archive_root) if not r.valid)
        )
        twice = sum(n - 1 for n in copies.values() if n > 1)
        result.check(
            "archival: everything archived once, malformed records kept as invalid",
            invalid == len(sent) and twice == 0 and len(copies) == len(on_topics),
            f"{len(copies):,}/{len(on_topics):,} records archived, {invalid:,} invalid (sent {len(sent):,}), "
            f"{twice} twice",
        )
    else:
        result.notes.append(f"archival part not run: {ARCHIVAL_MISSING}")
    result.check(
        "the decoder raised only DecodeError on the generated records",
        not factory.unexpected,
        f"{len(factory.unexpected)} other exceptions {factory.unexpected[:3]}",
    )
    started = time.monotonic()
    fuzz = await asyncio.to_thread(fuzz_decode, p.fuzz_examples, p.seed)
    result.check(
        "hypothesis fuzz of schemas.decode: only ever DecodeError",
        fuzz.failure is None,
        f"{fuzz.examples:,} examples ({fuzz.refused:,} refused, {fuzz.decoded:,} decoded) in "
        f"{time.monotonic() - started:.0f} s" + (f"; failure: {fuzz.failure}" if fuzz.failure else ""),
    )
    result.largest_stall_ms = final["stall_max_ms"]
    result.notes += cpu_notes(final)
    return result


async def wait_while_progressing(
    done: Callable[[], bool], progress: Callable[[], int], *, stalled_s: float = 45, limit_s: float = 600
) -> bool:
    """Wait until `done()`; give up when `progress()` has not moved for `stalled_s` (a stuck consumer)."""
    started = last_move = time.monotonic()
    last = progress()
    while time.monotonic() - started < limit_s:
        if await asyncio.to_thread(done):
            return True
        moved = progress()
        if moved != last:
            last, last_move = moved, time.monotonic()
        elif time.monotonic() - last_move > stalled_s:
            return False
        await asyncio.sleep(0.5)
    return False


def summaries(s: object) -> int:
    from reliability.scenarios.consumers import Setup, summaries_in

    assert isinstance(s, Setup)
    return summaries_in(s.db)
