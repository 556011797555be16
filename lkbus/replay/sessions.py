"""`sessions()`: recent sessions folded from the event topics.

One small summary per session, whatever the number of records: `lkbus.session.started`
gives the agent and the start, `livekit.agent.close` the close reason, `lkbus.session.ended`
the duration and the exact event count. Other records are counted from their key and
`ce_type` header without being decoded.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lkbus.replay.kafka_source import KafkaRecordSource
from lkbus.replay.position import AtTime, Position
from lkbus.replay.runner import ProgressCallback
from lkbus.replay.source import ReadRequest, RecordSource, SourceRecord
from lkbus.settings import Settings
from schemas import DecodeError, decode
from schemas.envelope import HEADER_TYPE
from schemas.payloads.agent_v1 import CloseV1
from schemas.payloads.lifecycle_v1 import SessionEndedV1, SessionStartedV1

LIFECYCLE_TYPES = frozenset({"lkbus.session.started", "livekit.agent.close", "lkbus.session.ended"})
_LIFECYCLE_HEADERS = frozenset(t.encode() for t in LIFECYCLE_TYPES)


@dataclass(slots=True)
class SessionSummary:
    """One session as seen in the records read."""

    session_id: str
    agent_name: str | None = None
    room_name: str | None = None
    started_at: datetime | None = None
    """Time of `lkbus.session.started`; None when it is before the window read."""
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    duration_s: float | None = None
    """From `lkbus.session.ended`, else from the first to the last record seen."""
    events: int = 0
    """Records seen in the window; the producer's own count once the session ended."""
    close_reason: str | None = None
    ended: bool = False

    @property
    def start(self) -> datetime | None:
        return self.started_at or self.first_seen


@dataclass
class SessionFold:
    """Folds records into session summaries (pure: feed it records, read `summaries`)."""

    _sessions: dict[str, SessionSummary] = field(default_factory=dict)
    undecodable: int = 0

    def add(self, record: SourceRecord) -> None:
        type_header = next((v for k, v in record.headers if k == HEADER_TYPE), None)
        if type_header is not None and record.key and type_header not in _LIFECYCLE_HEADERS:
            self._count(record.key.decode(errors="replace"), record.timestamp)
            return
        if record.value is None:
            self.undecodable += 1
            return
        try:
            event = decode(record.value, record.headers)
        except DecodeError:
            self.undecodable += 1
            return
        summary = self._count(event.session_id, record.timestamp)
        summary.agent_name = summary.agent_name or event.agent_name
        summary.room_name = summary.room_name or event.room_name
        data = event.data
        if isinstance(data, SessionStartedV1):
            summary.started_at = event.time.astimezone(UTC)
            summary.agent_name = data.agent_name or summary.agent_name
        elif isinstance(data, CloseV1):
            summary.close_reason = data.reason
        elif isinstance(data, SessionEndedV1):
            summary.ended = True
            summary.duration_s = data.duration
            summary.events = max(summary.events, data.last_seq)
            summary.close_reason = summary.close_reason or data.reason

    def _count(self, session_id: str, timestamp_ms: int) -> SessionSummary:
        summary = self._sessions.get(session_id)
        if summary is None:
            summary = self._sessions[session_id] = SessionSummary(session_id)
        if not summary.ended:
            summary.events += 1
        when = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        if summary.first_seen is None or when < summary.first_seen:
            summary.first_seen = when
        if summary.last_seen is None or when > summary.last_seen:
            summary.last_seen = when
        return summary

    def summaries(self, limit: int | None = None) -> list[SessionSummary]:
        """Most recent first (by start, else first record seen)."""
        floor = datetime.min.replace(tzinfo=UTC)
        for s in self._sessions.values():
            if s.duration_s is None and s.start is not None and s.last_seen is not None:
                s.duration_s = max(0.0, (s.last_seen - s.start).total_seconds())
        ordered = sorted(self._sessions.values(), key=lambda s: s.start or floor, reverse=True)
        return ordered if limit is None else ordered[:limit]


@dataclass(frozen=True, slots=True)
class SessionsOptions:
    since: Position = field(default_factory=lambda: AtTime(datetime.now(UTC) - timedelta(hours=24)))
    limit: int = 20
    topics: tuple[str, ...] = ()
    """Empty means the three event topics of the settings."""


@dataclass(frozen=True, slots=True)
class SessionsResult:
    sessions: list[SessionSummary]
    read: int
    undecodable: int
    elapsed_s: float


async def sessions(
    settings: Settings,
    options: SessionsOptions,
    *,
    on_progress: ProgressCallback | None = None,
    stop: asyncio.Event | None = None,
    source: RecordSource | None = None,
) -> SessionsResult:
    """Fold the records from `options.since` to the end into the most recent sessions."""
    started = time.monotonic()
    stop = stop if stop is not None else asyncio.Event()
    topics = options.topics or settings.topics.event_topics
    fold = SessionFold()
    read = 0
    src = source if source is not None else KafkaRecordSource(settings.kafka)
    async with src:
        plan = await src.open(ReadRequest(tuple(topics), options.since))
        async with aclosing(src.batches(stop)) as batches:
            async for batch in batches:
                for record in batch:
                    fold.add(record)
                read += len(batch)
                if on_progress is not None:
                    on_progress(read, plan.total)
    return SessionsResult(fold.summaries(options.limit), read, fold.undecodable, time.monotonic() - started)
