"""Transcripts and participant identities never reach a log line; spilled events stay private.

A scripted session runs through the real publisher while Kafka is away (the path that logs the
most), with every logger at DEBUG. The journal's own file modes are tested in
tests/unit/producers/test_journal.py; here, the journal the publisher really made is checked.
The same scan over a run against a real broker is in tests/integration/test_security.py.
"""

from __future__ import annotations

import dataclasses
import logging
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lkbus.broker.ephemeral import free_port
from lkbus.kafka import redact_client_logs
from lkbus.settings import KafkaSettings, PublisherSettings, TopicSettings
from lkbus.sim import simulated_session
from producers import EventPublisher

RUN = uuid.uuid4().hex[:8]
TRANSCRIPT = f"my card number is 4111 {RUN}"
REPLY = f"Your code word is zebra {RUN}"
IDENTITY = f"patient-{RUN}@clinic.example"
PRIVATE = (TRANSCRIPT, REPLY, IDENTITY, f"4111 {RUN}", f"zebra {RUN}")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        """What a log file would hold of each record: message, arguments and traceback."""
        formatter = logging.Formatter()
        out = []
        for record in self.records:
            parts = [record.getMessage(), repr(record.args)]
            if record.exc_info:
                parts.append(formatter.formatException(record.exc_info))
            if record.stack_info:
                parts.append(record.stack_info)
            out.append(" ".join(parts))
        return out


@pytest.fixture
def every_log() -> Iterator[_Records]:
    """Every record of every logger, at DEBUG, including loggers that do not propagate."""
    handler = _Records()
    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        if lg is logging.getLogger() or not lg.propagate:
            lg.addHandler(handler)
    try:
        yield handler
    finally:
        for lg, level in saved:
            lg.setLevel(level)
            lg.removeHandler(handler)


def _leaks(texts: list[str]) -> list[str]:
    return [text for text in texts if any(secret in text for secret in PRIVATE)]


async def test_a_scripted_session_logs_no_transcript_and_no_identity(
    every_log: _Records, tmp_path: Path
) -> None:
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")  # nothing listens: events spill
    settings = PublisherSettings(
        journal_dir=tmp_path / "journal",
        send_timeout_s=1,
        flush_timeout_s=1,
        commands=False,
        client_log_interval_s=0,  # every line the process could log is looked at
    )
    publisher = EventPublisher(kafka, TopicSettings(prefix="privacy."), settings)
    async with publisher:

        def attach(session: Any) -> None:
            publication = publisher.attach(session, session_id=f"privacy-{RUN}", agent_name="agent")
            publication.context = dataclasses.replace(publication.context, participant_identity=IDENTITY)

        async with simulated_session(before_start=attach, user_away_timeout=None) as sim:
            sim.llm.script(REPLY)
            await sim.user_says(TRANSCRIPT)
            await sim.wait_for_agent_idle()
            await sim.close()
        await publisher.flush(2)
    stats = publisher.stats()

    journal = tmp_path / "journal"
    spilled = b"".join(p.read_bytes() for p in journal.glob("*.journal"))
    assert stats.spilled > 0
    assert TRANSCRIPT.encode() in spilled, "the session's text went through the publisher"
    assert IDENTITY.encode() in spilled
    assert len(every_log.records) > 20, "the run was logged at DEBUG"
    assert any("Kafka" in text for text in every_log.texts()), "the outage was logged"
    assert _leaks(every_log.texts()) == []

    assert stat.S_IMODE(journal.stat().st_mode) == 0o700
    for path in journal.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_aiokafka_debug_lines_keep_no_record_content(every_log: _Records) -> None:
    """aiokafka logs each record it sends, and each request on the wire, at DEBUG."""
    redact_client_logs()
    value = f'{{"transcript": "{TRANSCRIPT}", "participant_identity": "{IDENTITY}"}}'.encode()
    logging.getLogger("aiokafka.producer.producer").debug(
        "Sending (key=%s value=%s) to %s", b"session-1", value, "TopicPartition(topic='t', partition=0)"
    )
    logging.getLogger("aiokafka.conn").debug(
        "Request to %s:%d %d: %s", "127.0.0.1", 9092, 7, f"SaslAuthenticateRequest_v0(auth_bytes={value!r})"
    )
    texts = every_log.texts()
    assert len(texts) == 2
    assert _leaks(texts) == []
    assert f"value=<{len(value)} bytes>" in texts[0]
    assert texts[1] == "Request to 127.0.0.1:9092 7: str(...) ('127.0.0.1', 9092, 7, 'str(...)')"
