"""`lkbus replay` throughput: records read, decoded, filtered and written as JSON Lines to
/dev/null, beside a bare aiokafka loop reading the same topic in the same run (and kcat when
it is installed). Each figure is the median of several runs.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.__main__ import BenchKafka
from bench.event_mix import event_mix
from bench.report import BenchRow
from lkbus.gc_tuning import tuned_for_batches
from lkbus.kafka import client_options
from lkbus.replay import EventFilter, ReplayOptions, replay
from lkbus.settings import KafkaSettings, Settings, TopicSettings
from lkbus.topics import TopicSpec, create_topics
from schemas import SessionContext, check_record, decode, encode_session_event

RUNS = 5
RECORDS = 100_000
SESSIONS = 1000
PARTITIONS = 6


def run(kafka: BenchKafka) -> list[BenchRow]:
    return asyncio.run(_run(KafkaSettings(bootstrap_servers=kafka.bootstrap, client_id="lkbus-bench")))


async def _run(kafka: KafkaSettings) -> list[BenchRow]:
    topic = f"bench.replay.{uuid.uuid4().hex[:8]}"
    await create_topics(kafka, [TopicSpec(topic, PARTITIONS, 1)])
    await _fill(kafka, topic)
    settings = Settings(kafka=kafka, topics=TopicSettings())
    everything = ReplayOptions(topics=(topic,), format="jsonl")
    user_state = ReplayOptions(topics=(topic,), format="jsonl", filter=EventFilter(types=("*user_state*",)))
    bare, bare_decode, bare_check, ours_all, ours_filtered, kcat = [], [], [], [], [], []
    with tuned_for_batches():  # as `lkbus replay` runs (lkbus/gc_tuning.py), for every figure alike
        for _ in range(RUNS):  # interleaved, so drift on the shared machine hits every figure alike
            bare.append(await _bare_loop(kafka, topic))
            bare_decode.append(await _bare_loop(kafka, topic, decode_each=True))
            bare_check.append(await _bare_loop(kafka, topic, check_each=True))
            ours_all.append(await _replay(settings, everything))
            ours_filtered.append(await _replay(settings, user_state))
            if shutil.which("kcat"):
                kcat.append(_kcat(kafka, topic))
    baseline = statistics.median(bare)
    rows = [
        BenchRow(
            "replay → JSON Lines, every record validated",
            statistics.median(ours_all),
            statistics.median(bare_decode),
            "records/s",
            "bare getmany loop + schemas.decode",
            "",
        ),
        BenchRow(
            "replay → JSON Lines, every record validated",
            statistics.median(ours_all),
            statistics.median(bare_check),
            "records/s",
            "bare getmany loop + schemas.check_record",
            "",
        ),
        BenchRow(
            "bare getmany loop + schemas.check_record",
            statistics.median(bare_check),
            baseline,
            "records/s",
            "bare aiokafka getmany loop",
            "",
        ),
        BenchRow(
            "replay → JSON Lines, every record validated",
            statistics.median(ours_all),
            baseline,
            "records/s",
            "bare aiokafka getmany loop",
            ">= 0.6x",
        ),
        BenchRow(
            "replay → JSON Lines, --type '*user_state*'",
            statistics.median(ours_filtered),
            baseline,
            "records/s",
            "bare aiokafka getmany loop",
            ">= 0.6x",
        ),
    ]
    if kcat:
        rows.append(
            BenchRow(
                "replay → JSON Lines, every record validated",
                statistics.median(ours_all),
                statistics.median(kcat),
                "records/s",
                "kcat -C -e -f '%s\\n'",
                "",
            )
        )
        rows.append(
            BenchRow("bare aiokafka getmany loop", baseline, statistics.median(kcat), "records/s", "kcat", "")
        )
    return rows


async def _fill(kafka: KafkaSettings, topic: str) -> None:
    mix = event_mix()
    contexts = [
        SessionContext(session_id=f"bench-{i}", agent_name="bench", source="bench", room_name=f"room-{i}")
        for i in range(SESSIONS)
    ]
    producer = AIOKafkaProducer(**client_options(kafka), linger_ms=5, max_batch_size=131_072, acks=1)
    await producer.start()
    try:
        for n in range(RECORDS):
            record = encode_session_event(mix[n % len(mix)], contexts[n % SESSIONS], n // SESSIONS + 1)
            await producer.send(topic, record.value, key=record.key, headers=record.headers)
        await producer.flush()
    finally:
        await producer.stop()


async def _replay(settings: Settings, options: ReplayOptions) -> float:
    started = time.perf_counter()
    with open("/dev/null", "w") as devnull:  # noqa: ASYNC230 - /dev/null never blocks
        stats = await replay(settings, options, devnull, err=devnull)
    assert stats.read == RECORDS, stats
    return stats.read / (time.perf_counter() - started)


async def _bare_loop(
    kafka: KafkaSettings, topic: str, *, decode_each: bool = False, check_each: bool = False
) -> float:
    """The floor: a consumer that reads every record of the topic (and decodes or checks it, if asked)."""
    started = time.perf_counter()
    consumer = AIOKafkaConsumer(
        **client_options(kafka), group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        count = 0
        while pending:
            batch = await consumer.getmany(timeout_ms=100)
            for tp, records in batch.items():
                count += len(records)
                if decode_each:
                    for r in records:
                        decode(r.value, r.headers)
                elif check_each:
                    for r in records:
                        check_record(r.value, r.headers)
                if records and records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    assert count == RECORDS, count
    return count / (time.perf_counter() - started)


def _kcat(kafka: KafkaSettings, topic: str) -> float:
    started = time.perf_counter()
    with open("/dev/null", "wb") as devnull:
        subprocess.run(
            [
                "kcat",
                "-C",
                "-b",
                kafka.bootstrap_servers,
                "-t",
                topic,
                "-o",
                "beginning",
                "-e",
                "-q",
                "-f",
                "%s\\n",
            ],
            stdout=devnull,
            check=True,
            timeout=300,
        )
    return RECORDS / (time.perf_counter() - started)


if __name__ == "__main__":
    from bench.__main__ import bench_kafka

    with bench_kafka() as k:
        for row in run(k):
            figures = f"{row.ours:,.0f} vs {row.baseline:,.0f} {row.unit} ({row.ratio:.2f}x)"
            print(f"{row.name} vs {row.baseline_name}: {figures}")
