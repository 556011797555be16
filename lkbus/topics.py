"""The project's topics: their specs, and idempotent create / list / describe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from lkbus.errors import TopicError
from lkbus.kafka import (
    LOOKUP_RETRY_BACKOFF_MS,
    KafkaAuthorizationError,
    client_options,
    connection_problem,
    explain_connection_failure,
    explain_error_code,
    explain_kafka_error,
)
from lkbus.settings import KafkaSettings, TopicSettings

_DAY_MS = 24 * 3600 * 1000
_NOT_AUTHORIZED = (29, 31)  # TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED
_TOPIC_OVERRIDE = 1  # DescribeConfigs source DYNAMIC_TOPIC_CONFIG: set on the topic itself


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic the project needs."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TopicDescription:
    """A topic as the cluster reports it."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


def project_topics(topics: TopicSettings) -> list[TopicSpec]:
    """Every topic the project uses, with partitions, replication and retention from settings."""
    events = {"retention.ms": str(int(topics.retention_days * _DAY_MS)), "compression.type": "producer"}
    n, rf = topics.partitions, topics.replication_factor
    return [
        *(TopicSpec(name, n, rf, events) for name in topics.event_topics),
        TopicSpec(
            topics.name(topics.commands),
            n,
            rf,
            {"retention.ms": str(int(topics.commands_retention_hours * 3600 * 1000))},
        ),
        TopicSpec(topics.name(topics.analytics_sessions), n, rf, events),
        TopicSpec(
            topics.name(topics.deadletter),
            n,
            rf,
            {"retention.ms": str(int(topics.deadletter_retention_days * _DAY_MS))},
        ),
    ]


@asynccontextmanager
async def admin_client(kafka: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client.

    A cluster that does not answer raises `KafkaUnavailableError`; a refused password, an
    untrusted certificate or a missing ACL raises one clear `LkbusError` (`lkbus.kafka`).
    """
    # aiokafka's bootstrap logs and hides why it failed: connect once ourselves to say why.
    problem = await connection_problem(kafka)
    if problem is not None:
        raise explain_kafka_error(problem, kafka)
    admin = AIOKafkaAdminClient(**client_options(kafka), request_timeout_ms=15000)
    try:
        await admin.start()
    except (KafkaConnectionError, OSError) as exc:
        await admin.close()
        raise await explain_connection_failure(exc, kafka) from None
    try:
        yield admin
    except KafkaError as exc:
        explained = explain_kafka_error(exc, kafka)
        if isinstance(explained, KafkaAuthorizationError):
            raise explained from None
        raise
    finally:
        await admin.close()


async def create_topics(kafka: KafkaSettings, specs: list[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; returns the names it created."""
    async with admin_client(kafka) as admin:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if not missing:
            return []
        new = [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config) for s in missing]
        try:
            response = await admin.create_topics(new)
        except TopicAlreadyExistsError:
            return []
        except KafkaError as exc:
            raise TopicError(f"creating topics failed: {exc}; check the broker's log and ACLs") from None
        created = []
        for name, code, message in _topic_errors(response):
            if code == 0:
                created.append(name)
            elif code in _NOT_AUTHORIZED:
                raise explain_error_code(code, kafka, operation="create", topic=name)
            elif code != TopicAlreadyExistsError.errno:
                raise TopicError(
                    f"creating topic {name} failed (error {code}: {message}); check ACLs and settings"
                )
        await _wait_for_leaders(admin, created)
        return created


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float = 30) -> None:
    """Wait until every partition of the new topics has a leader, so first sends do not bounce."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while names:
        topics = await admin.describe_topics(names)
        if all(
            t["error_code"] == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
            for t in topics
        ):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TopicError(
                f"topics {', '.join(names)} have no leader after {timeout_s:.0f} s; check the broker"
            )
        await asyncio.sleep(0.1)


async def list_topics(kafka: KafkaSettings) -> list[str]:
    """Names of the topics in the cluster, internal ones left out."""
    async with admin_client(kafka) as admin:
        return sorted(t for t in await admin.list_topics() if not t.startswith("__"))


async def describe_topics(kafka: KafkaSettings, names: list[str]) -> list[TopicDescription]:
    """Partitions, replication and the non-default configs of the named topics."""
    async with admin_client(kafka) as admin:
        existing = set(await admin.list_topics())
        unknown = [n for n in names if n not in existing]
        if unknown:
            raise TopicError(f"no such topic: {', '.join(unknown)}; `lkbus topics list` shows what exists")
        metadata = await admin.describe_topics(names)
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    by_name: dict[str, dict[str, str]] = {}
    for response in configs:
        for _code, _msg, _type, name, entries in response.resources:
            by_name[name] = {e[0]: e[1] for e in entries if e[3] == _TOPIC_OVERRIDE}
    result = []
    for topic in metadata:
        partitions = topic["partitions"]
        replicas = len(partitions[0]["replicas"]) if partitions else 0
        result.append(
            TopicDescription(topic["topic"], len(partitions), replicas, by_name.get(topic["topic"], {}))
        )
    return result


def _topic_errors(response: object) -> list[tuple[str, int, str]]:
    rows = getattr(response, "topic_errors", None) or getattr(response, "topics", [])
    return [(row[0], row[1], row[2] if len(row) > 2 else "") for row in rows]


async def topic_record_count(kafka: KafkaSettings, names: list[str]) -> int:
    """Records now in the named topics (end minus beginning offsets, over every partition)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    partitions = [
        TopicPartition(t.name, p) for t in await describe_topics(kafka, names) for p in range(t.partitions)
    ]
    consumer = AIOKafkaConsumer(
        **client_options(kafka), enable_auto_commit=False, retry_backoff_ms=LOOKUP_RETRY_BACKOFF_MS
    )
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
    finally:
        await consumer.stop()
    return sum(ends[tp] - starts[tp] for tp in partitions)
