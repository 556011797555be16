"""The local broker's SASL_SSL listener (SCRAM-SHA-512, a CA made for the test) with ACLs.

Producers, consumers and the CLI connect with the settings class; a wrong password, an untrusted
certificate and a missing ACL each give one clear line; no secret, transcript or participant
identity reaches any log line of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic import SecretStr

from consumers.runtime import ConsumerService
from lkbus.broker import LocalBroker
from lkbus.broker.ephemeral import free_port
from lkbus.broker.security import AclOperation, client_acls, create_acls, ensure_tls
from lkbus.errors import BrokerError
from lkbus.kafka import (
    KafkaAuthenticationError,
    KafkaAuthorizationError,
    KafkaTlsError,
    client_options,
    explain_connection_failure,
    explain_kafka_error,
)
from lkbus.settings import (
    BrokerSettings,
    ConsumerSettings,
    KafkaSettings,
    PublisherSettings,
    Settings,
    TopicSettings,
)
from lkbus.sim import simulated_session
from lkbus.topics import TopicSpec, create_topics, list_topics, project_topics
from producers import EventPublisher
from tests.integration.sample_consumers import FileRecorder

RUN = uuid.uuid4().hex[:8]
TOPIC_PREFIX = f"sec.{RUN}."
GROUP_PREFIX = f"sec-g.{RUN}."
PASSWORDS = {user: f"{user}-{secrets.token_urlsafe(12)}" for user in ("admin", "alice", "bob")}
TRANSCRIPT = f"my account number is {RUN} please"
IDENTITY = f"caller-{RUN}@example.org"


class _Everything(logging.Handler):
    """Keeps every record of every logger, formatted the way a log file would hold it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + " " + repr(record.args))


@pytest.fixture(scope="module")
def logs() -> Iterator[_Everything]:
    """Every log record of this module's tests, at DEBUG, from every logger."""
    handler = _Everything()
    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    saved = [(lg, lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        if not lg.propagate:
            lg.addHandler(handler)
    logging.getLogger().addHandler(handler)
    yield handler
    for lg, level, _ in saved:
        lg.setLevel(level)
        lg.removeHandler(handler)


@pytest.fixture(scope="module")
def broker(logs: _Everything) -> Iterator[LocalBroker]:
    """A broker with a SASL_SSL listener and ACLs: admin is super user, alice may use the test's
    topics and groups, bob only topics of his own."""
    data_dir = Path(tempfile.mkdtemp(prefix="lkbus-test-secure-"))
    local = LocalBroker(
        BrokerSettings(
            data_dir=data_dir,
            port=free_port(),
            controller_port=free_port(),
            secure_port=free_port(),
            jars_dir=Path(os.environ.get("LKBUS_BROKER__JARS_DIR", ".lkbus/kafka-jars")),
            scram_users=PASSWORDS,
            acl_enabled=True,
        )
    )

    async def start() -> None:
        await local.start()
        admin = local.secure_client("admin")
        await create_acls(admin, client_acls("alice", topic_prefix=TOPIC_PREFIX, group_prefix=GROUP_PREFIX))
        await create_acls(admin, client_acls("bob", topic_prefix=f"bob.{RUN}.", group_prefix="bob."))

    try:
        asyncio.run(start())
        yield local
    finally:
        local.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def alice(broker: LocalBroker) -> KafkaSettings:
    return broker.secure_client("alice", client_id="lkbus-secure-tests")


def _lkbus(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lkbus", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _client_env(kafka: KafkaSettings, password: str) -> dict[str, str]:
    assert kafka.ssl_cafile is not None
    assert kafka.sasl_username is not None
    return {
        "LKBUS_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "LKBUS_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "LKBUS_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
        "LKBUS_KAFKA__SASL_USERNAME": kafka.sasl_username,
        "LKBUS_KAFKA__SASL_PASSWORD": password,
        "LKBUS_KAFKA__SSL_CAFILE": str(kafka.ssl_cafile),
    }


def _open_sockets() -> int:
    """How many sockets this process holds (Linux: /proc/self/fd)."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd).startswith("socket:")
    return count


@pytest.fixture
async def refused_connections_closed() -> AsyncIterator[None]:
    """A client refused over TLS closes its socket on later turns of the loop (the TLS shutdown
    waits for the broker's answer, slower on a loaded machine): wait for that before the test's
    loop ends, which would leave the socket for the garbage collector to report in a later test."""
    before = _open_sockets()
    yield
    deadline = time.monotonic() + 10
    while _open_sockets() > before and time.monotonic() < deadline:  # noqa: ASYNC110 - polled: no event says so
        await asyncio.sleep(0.05)


async def _wait_until(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_publisher_and_consumer_service_deliver_over_sasl_ssl(
    alice: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = TopicSettings(prefix=TOPIC_PREFIX, partitions=2)
    await create_topics(alice, project_topics(topics))
    assert set(await list_topics(alice)) >= {spec.name for spec in project_topics(topics)}

    publisher = EventPublisher(alice, topics, PublisherSettings(journal_dir=tmp_path / "journal"))
    async with publisher:
        await publisher.commands_ready()

        def attach(session: Any) -> None:
            publication = publisher.attach(session, session_id=f"secure-{RUN}", agent_name="agent")
            publication.context = dataclasses.replace(publication.context, participant_identity=IDENTITY)

        async with simulated_session(before_start=attach, user_away_timeout=None) as sim:
            sim.llm.script("Noted.")
            await sim.user_says(TRANSCRIPT)
            await sim.wait_for_agent_idle()
            await sim.close()
        assert await publisher.flush(10)
        stats = publisher.stats()
    assert stats.produced > 0
    assert stats.spilled == 0, "everything went over the secure listener"

    monkeypatch.setenv("LKBUS_TEST_RECORD_FILE", str(tmp_path / "handled.txt"))
    settings = Settings(
        kafka=alice,
        topics=topics,
        consumer=ConsumerSettings(group_prefix=GROUP_PREFIX, session_timeout_ms=6000, fetch_max_wait_ms=20),
    )
    recorder = FileRecorder()
    service = ConsumerService(recorder, settings)
    await service.start()
    try:
        await _wait_until(lambda: service.processed >= 3)
        await asyncio.sleep(0.3)
    finally:
        await service.stop()
    session_events = [r for r in recorder.handled if r.event.session_id == f"secure-{RUN}"]
    seqs = [r.event.seq or 0 for r in session_events]
    assert seqs == sorted(set(seqs)), "in order, once each (user state events go to another topic)"
    assert session_events[0].event.type == "lkbus.session.started"
    assert session_events[-1].event.type == "lkbus.session.ended"
    assert service.dead_lettered == 0


async def test_wrong_password_is_one_clear_line(
    broker: LocalBroker, alice: KafkaSettings, refused_connections_closed: None
) -> None:
    wrong = f"not-{PASSWORDS['alice']}"
    result = await asyncio.to_thread(_lkbus, ["topics", "list"], _client_env(alice, wrong))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: authentication failed for user alice at {broker.secure_bootstrap} (SASL SCRAM-SHA-512): "
        "check LKBUS_KAFKA__SASL_USERNAME/PASSWORD"
    ]
    assert wrong not in result.stderr

    bad = alice.model_copy(update={"sasl_password": SecretStr(wrong)})
    with pytest.raises(KafkaAuthenticationError, match="authentication failed for user alice") as caught:
        await list_topics(bad)
    assert wrong not in str(caught.value)

    # Producers and consumers meet the same failure as aiokafka's opaque bootstrap error.
    producer = AIOKafkaProducer(**client_options(bad))
    with pytest.raises(KafkaConnectionError) as failed:
        await producer.start()
    await producer.stop()
    explained = await explain_connection_failure(failed.value, bad)
    assert isinstance(explained, KafkaAuthenticationError)
    assert str(explained) == str(caught.value)


async def test_the_cli_works_with_the_right_password(alice: KafkaSettings) -> None:
    topics = TopicSettings(prefix=TOPIC_PREFIX)
    await create_topics(alice, project_topics(topics))
    result = await asyncio.to_thread(_lkbus, ["topics", "list"], _client_env(alice, PASSWORDS["alice"]))
    assert result.returncode == 0, result.stderr
    assert topics.name(topics.session_events) in result.stdout.split()
    assert PASSWORDS["alice"] not in result.stdout + result.stderr


async def test_an_untrusted_certificate_is_one_clear_line(
    broker: LocalBroker, alice: KafkaSettings, tmp_path: Path, refused_connections_closed: None
) -> None:
    stranger = ensure_tls(tmp_path / "other-ca", ["127.0.0.1"]).ca_cert
    untrusting = alice.model_copy(update={"ssl_cafile": stranger})
    with pytest.raises(KafkaTlsError) as caught:
        await list_topics(untrusting)
    assert str(caught.value).startswith("TLS: the broker's certificate is not trusted (")
    assert str(caught.value).endswith("set LKBUS_KAFKA__SSL_CAFILE to the CA that signed it")
    env = {**_client_env(alice, PASSWORDS["alice"]), "LKBUS_KAFKA__SSL_CAFILE": str(stranger)}
    result = await asyncio.to_thread(_lkbus, ["topics", "list"], env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {caught.value}"]


async def test_a_user_without_an_acl_is_refused_and_told_so(
    broker: LocalBroker, alice: KafkaSettings
) -> None:
    topic = f"{TOPIC_PREFIX}private"
    await create_topics(alice, [TopicSpec(topic, 1, 1)])
    bob = broker.secure_client("bob")
    assert topic not in await list_topics(bob), "bob cannot even see alice's topics"

    producer = AIOKafkaProducer(**client_options(bob), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        with pytest.raises(KafkaError) as refused:
            await producer.send_and_wait(topic, b"hello")
    finally:
        await producer.stop()
    explained = explain_kafka_error(refused.value, bob, operation="write")
    assert isinstance(explained, KafkaAuthorizationError)
    assert str(explained) == f"not authorized to write topic {topic}: grant an ACL to User:bob"

    consumer = AIOKafkaConsumer(topic, **client_options(bob), group_id="bob.readers")
    with pytest.raises(KafkaError) as refused:
        await consumer.start()
    await consumer.stop()
    assert str(explain_kafka_error(refused.value, bob, operation="read")) == (
        f"not authorized to read topic {topic}: grant an ACL to User:bob"
    )

    # Granting the ACL is what fixes it.
    await create_acls(
        broker.secure_client("admin"), client_acls("bob", topic_prefix=topic, operations=[AclOperation.WRITE])
    )
    producer = AIOKafkaProducer(**client_options(bob), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello")
    finally:
        await producer.stop()


async def test_lkbus_config_shows_no_secret(alice: KafkaSettings) -> None:
    env = {
        **_client_env(alice, PASSWORDS["alice"]),
        "LKBUS_BROKER__SCRAM_USERS": json.dumps({"admin": PASSWORDS["admin"], "bob": PASSWORDS["bob"]}),
    }
    result = await asyncio.to_thread(_lkbus, ["config"], env)
    assert result.returncode == 0, result.stderr
    assert '"sasl_username": "alice"' in result.stdout
    assert "**********" in result.stdout
    for password in PASSWORDS.values():
        assert password not in result.stdout + result.stderr


def test_tls_files_are_private_and_users_are_fixed_at_format(broker: LocalBroker) -> None:
    assert stat.S_IMODE(broker.tls_dir.stat().st_mode) == 0o700
    for path in broker.tls_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    LocalBroker(broker.settings)._check_users_unchanged()
    changed = {**broker.settings.scram_users, "alice": SecretStr("a-new-password")}
    with pytest.raises(BrokerError, match=r"SCRAM users \(LKBUS_BROKER__SCRAM_USERS\) changed"):
        LocalBroker(broker.settings.model_copy(update={"scram_users": changed}))._check_users_unchanged()


def test_no_secret_transcript_or_identity_in_any_log_line(logs: _Everything, broker: LocalBroker) -> None:
    """Runs last: scans every record logged by this module's tests, and the broker's own logs."""
    assert len(logs.lines) > 100, "the run was logged at DEBUG"
    broker_logs = "\n".join(
        path.read_text(errors="replace")
        for path in (broker.log_file, broker.data_dir / "console.log", broker.data_dir / "server.properties")
        if path.exists()
    )
    assert "Authenticated as alice" in "\n".join(logs.lines)
    for secret in [*PASSWORDS.values(), TRANSCRIPT, RUN + " please", IDENTITY]:
        leaks = [line for line in logs.lines if secret in line]
        assert not leaks, f"{secret!r} was logged: {leaks[:3]}"
    for password in PASSWORDS.values():
        assert password not in broker_logs
