"""The consumer runtime against real Kafka: commit after effect, dead letters, retries, SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from consumers.runtime import ConsumerService, EventConsumer, Incoming
from consumers.runtime.deadletter import error_context
from consumers.runtime.records import Checked
from lkbus.kafka import client_options
from lkbus.settings import ConsumerSettings, KafkaSettings, Settings, TopicSettings
from lkbus.topic_reader import read_topics
from lkbus.topics import create_topics, project_topics
from schemas import SessionContext, encode_event
from tests.integration.sample_consumers import FileRecorder

CTX = SessionContext(session_id="rt-1", agent_name="agent", source="test")


def ended(seq: int, reason: str = "done") -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    record = encode_event(
        "lkbus.session.ended", {"reason": reason, "last_seq": seq, "event_counts": {}}, CTX, seq, time.time()
    )
    return record.key, record.value, record.headers


def good_headers() -> list[tuple[str, bytes]]:
    return ended(1)[2]


ToSend = tuple[bytes | None, bytes, list[tuple[str, bytes]]]
"""A record to produce: key, value, headers."""

BAD_RECORDS: dict[str, tuple[bytes, list[tuple[str, bytes]]]] = {
    "not_json": (b"\xff\xfe garbage \x00", []),
    "not_json_truncated": (b'{"type": "lkbus.session.ended", "id": ', []),
    "unknown_type": (orjson.dumps({**orjson.loads(ended(1)[1]), "type": "livekit.agent.teleported"}), []),
    "unsupported_version": (orjson.dumps({**orjson.loads(ended(1)[1]), "schema_version": "9.0"}), []),
    "missing_field": (
        orjson.dumps({k: v for k, v in orjson.loads(ended(1)[1]).items() if k != "session_id"}),
        [],
    ),
    "bad_header_bytes": (ended(1)[1], [("ce_type", b"\xff\xfe not utf-8")]),
}


def good_and_bad(
    wrong_header: tuple[str, bytes],
) -> list[ToSend]:
    """Each of BAD_RECORDS after a good record, then a good body whose header `wrong_header`
    names disagrees with it."""
    batch: list[ToSend] = []
    for i, (value, headers) in enumerate(BAD_RECORDS.values()):
        batch.append(ended(i + 1))
        batch.append((b"rt-1", value, headers))
    key, value, headers = ended(50)
    name, wrong = wrong_header
    batch.append((key, value, [(k, wrong if k == name else v) for k, v in headers]))
    return batch


@pytest.fixture
async def settings(kafka: KafkaSettings, unique: Callable[[str], str]) -> Settings:
    topics = TopicSettings(prefix=unique("rt") + ".", partitions=2)
    await create_topics(kafka, project_topics(topics))
    return Settings(
        kafka=kafka,
        topics=topics,
        consumer=ConsumerSettings(
            group_prefix=unique("g") + ".",
            session_timeout_ms=6000,
            retry_backoff_s=0.01,
            fetch_max_wait_ms=20,
            max_batch=50,
        ),
    )


async def produce(kafka: KafkaSettings, topic: str, records: list[ToSend]) -> None:
    producer = AIOKafkaProducer(**client_options(kafka), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def committed(kafka: KafkaSettings, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        for _ in range(50):  # a broker started moments ago has no group coordinator yet
            try:
                offsets = await admin.list_consumer_group_offsets(group)
                break
            except GroupCoordinatorNotAvailableError:
                await asyncio.sleep(0.2)
        else:
            offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def wait_until(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def run_until_processed(service: ConsumerService, count: int) -> None:
    """Start the service, let it process `count` records, stop it."""
    await service.start()
    try:
        await wait_until(lambda: service.processed >= count)
    finally:
        await service.stop()


async def test_poison_records_are_dead_lettered_and_the_rest_go_on(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LKBUS_TEST_RECORD_FILE", str(tmp_path / "handled.txt"))
    topic = settings.topics.name(settings.topics.session_events)
    batch = good_and_bad(wrong_header=("ce_type", b"livekit.agent.close"))
    batch.append(ended(60, reason="poison"))
    batch.append(ended(61, reason="flaky"))
    batch.append(ended(62))
    await produce(settings.kafka, topic, batch)
    expected_good = len(BAD_RECORDS) + 2  # the flaky one succeeds on retry
    recorder = FileRecorder()
    service = ConsumerService(recorder, settings)
    await run_until_processed(service, len(batch))

    assert len(recorder.handled) == expected_good
    letters = await read_topics(settings.kafka, [settings.topics.name(settings.topics.deadletter)])
    contexts = [error_context(list(r.headers)) for r in letters]
    reasons = sorted(c.get("reason", c["class"]) for c in contexts)
    assert reasons == sorted(
        [
            "not_json",
            "not_json",
            "unknown_type",
            "unsupported_version",
            "missing_field",
            "header_mismatch",
            "invalid_header",
            "PoisonRecordError",
        ]
    ), reasons
    for record, context in zip(letters, contexts, strict=True):
        assert context["topic"] == topic
        assert context["consumer"] == "file-recorder"
        assert int(context["offset"]) >= 0
        assert record.key == b"rt-1", "the original key is kept"
    originals = {value for _, (value, _) in BAD_RECORDS.items()}
    assert originals <= {r.value for r in letters}, "the original values are kept"
    offsets = await committed(settings.kafka, service.group_id)
    assert sum(offsets.values()) == len(batch), "everything handled or dead-lettered is committed"


class RecordMover(EventConsumer):
    """A consumer that only moves records: it asks for checked records, not events."""

    name = "record-mover"

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.handled: list[object] = []

    @property
    def needs_events(self) -> bool:
        return False

    def subscriptions(self, settings: Settings) -> list[str]:
        return [self.topic]

    async def handle(self, batch: Sequence[Incoming | Checked]) -> None:
        self.handled.extend(batch)


async def test_a_consumer_that_needs_no_events_gets_checked_records_and_the_same_dead_letters(
    settings: Settings,
) -> None:
    topic = settings.topics.name(settings.topics.session_events)
    batch = good_and_bad(wrong_header=("ce_source", b"other-source"))
    await produce(settings.kafka, topic, batch)
    mover = RecordMover(topic)
    await run_until_processed(ConsumerService(mover, settings), len(batch))

    assert [type(r) for r in mover.handled] == [Checked] * len(BAD_RECORDS)
    good = [v for _, v, _ in batch[0::2]][: len(BAD_RECORDS)]
    assert sorted(r.value for r in mover.handled if isinstance(r, Checked)) == sorted(good)
    letters = await read_topics(settings.kafka, [settings.topics.name(settings.topics.deadletter)])
    reasons = sorted(error_context(list(r.headers))["reason"] for r in letters)
    expected = ["not_json", "not_json", "unknown_type", "unsupported_version", "missing_field"]
    assert reasons == sorted([*expected, "invalid_header", "header_mismatch"]), reasons


class Sender(EventConsumer):
    """A consumer that declares the topics it sends to (and sends nothing)."""

    name = "sender"

    def __init__(self, topic: str, sends_to: list[str]) -> None:
        self.topic = topic
        self.sends_to = sends_to

    def subscriptions(self, settings: Settings) -> list[str]:
        return [self.topic]

    def output_topics(self, settings: Settings) -> list[str]:
        return list(self.sends_to)

    async def handle(self, batch: Sequence[Incoming]) -> None:
        return None


async def test_the_topics_a_consumer_sends_to_are_known_at_start_and_a_missing_one_is_named(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    topics = settings.topics
    commands, deadletter = topics.name(topics.commands), topics.name(topics.deadletter)
    missing = topics.prefix + "never-created"
    service = ConsumerService(Sender(topics.name(topics.session_events), [commands, missing]), settings)
    with caplog.at_level(logging.WARNING, logger="lkbus.consumers"):
        await service.start()
        try:
            assert service._producer is not None
            cluster = service._producer.client.cluster
            assert cluster.partitions_for_topic(commands) == {0, 1}
            assert cluster.partitions_for_topic(deadletter)
            assert cluster.partitions_for_topic(missing) is None
        finally:
            await service.stop()
    named = [r.getMessage() for r in caplog.records if "does not exist" in r.getMessage()]
    assert named == [
        f"consumer sender: topic {missing} does not exist; what it sends there will fail until it is "
        "created (`lkbus topics create` creates the project's topics)"
    ]


async def test_sigterm_finishes_the_batch_commits_and_exits_0(settings: Settings, tmp_path: Path) -> None:
    topic = settings.topics.name(settings.topics.session_events)
    await produce(settings.kafka, topic, [ended(i + 1) for i in range(400)])
    record_file = tmp_path / "handled.txt"
    env = {
        **os.environ,
        "LKBUS_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "LKBUS_TOPICS__PREFIX": settings.topics.prefix,
        "LKBUS_CONSUMER__GROUP_PREFIX": settings.consumer.group_prefix,
        "LKBUS_CONSUMER__MAX_BATCH": "20",
        "LKBUS_CONSUMER__SESSION_TIMEOUT_MS": "6000",
        "LKBUS_TEST_RECORD_FILE": str(record_file),
        "LKBUS_TEST_BATCH_DELAY": "0.05",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "lkbus", "consume", "tests.integration.sample_consumers:FileRecorder"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        await wait_until(lambda: record_file.exists() and len(record_file.read_text().splitlines()) >= 60)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    handled = record_file.read_text().splitlines()
    assert len(handled) < 400, "stopped in the middle"
    assert len(set(handled)) == len(handled), "nothing handled twice"
    offsets = await committed(settings.kafka, settings.consumer.group_prefix + "file-recorder")
    per_partition: dict[int, int] = {}
    for line in handled:
        _, partition, offset = line.split()
        per_partition[int(partition)] = max(per_partition.get(int(partition), 0), int(offset) + 1)
    assert {tp.partition: o for tp, o in offsets.items()} == per_partition, (
        "committed == handled, no more, no less"
    )
