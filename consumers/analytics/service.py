"""The analytics consumer service: folds sessions into summaries and minutes into rollups.

Summaries go to the analytics topic and the store; rollups to the store. Summaries are upserted
by session; window folds are merged with the stored fold of the same (agent, window), so
instances that each saw part of a window add up to the whole. Offsets are never committed past
the first record of a session or window that is still open, so a crash, restart or rebalance
rebuilds the same rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import TopicPartition

from consumers.analytics.rollups import Rollups, RollupWindow, agent_of
from consumers.analytics.store import DuckDBStore
from consumers.analytics.summary import SessionAccumulator, SessionSummary
from consumers.runtime import ConsumerContext, EventConsumer, Incoming
from lkbus.settings import Settings
from schemas import Event, SessionContext, encode_event

logger = logging.getLogger("lkbus.consumers.analytics")

SUMMARY_TYPE = "lkbus.analytics.session_summary"
EMIT_INTERVAL_S = 0.5
"""Summaries and closed windows are written at most this often from the batch path (and every
second by the ticker): each write opens the store file briefly, so reports can read between."""
WindowKey = tuple[str, datetime]


class AnalyticsConsumer(EventConsumer):
    """`lkbus consume analytics`."""

    name = "analytics"

    def __init__(self) -> None:
        self.sessions: dict[str, SessionAccumulator] = {}
        self.summaries_written = 0
        self._agent: dict[str, str] = {}
        self._session_offsets: dict[str, dict[TopicPartition, int]] = {}
        self._window_offsets: dict[WindowKey, dict[TopicPartition, int]] = {}
        self._ended_at: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        self._summarised: dict[str, datetime | None] = {}
        """Sessions whose summary is stored, with their end when they ended (not idle)."""
        self._assigned: set[TopicPartition] = set()
        self._partition_of: dict[str, int] = {}
        self._topics: list[str] = []
        self._last_emit = 0.0
        self._emitting: asyncio.Task[None] | None = None

    def subscriptions(self, settings: Settings) -> list[str]:
        self._topics = list(settings.topics.event_topics)
        return list(self._topics)

    def output_topics(self, settings: Settings) -> list[str]:
        return [settings.topics.name(settings.topics.analytics_sessions)]

    async def start(self, context: ConsumerContext) -> None:
        await super().start(context)
        a = context.settings.analytics
        self.settings = a
        self.rollups = Rollups(
            window_s=a.window_s, allowed_lateness_s=a.allowed_lateness_s, session_idle_s=a.idle_timeout_s
        )
        self.analytics_topic = context.settings.topics.name(context.settings.topics.analytics_sessions)
        a.db_path.parent.mkdir(parents=True, exist_ok=True)
        # Opening creates the schema; writes reopen the file briefly, so reports can read it.
        with DuckDBStore(a.db_path) as store:
            self._summarised = store.session_ends()
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._emitting is not None:
            await self._emitting
        async with self._lock:
            # Rows of windows still open are written as they stand; their offsets stay uncommitted,
            # so the next instance rebuilds them whole.
            await asyncio.to_thread(self._write, [], self.rollups.flush_windows())

    async def handle(self, batch: Sequence[Incoming]) -> None:
        async with self._lock:
            tps: dict[tuple[str, int], TopicPartition] = {}
            for record in batch:
                event = record.event
                sid = event.session_id
                tp = tps.get((record.topic, record.partition))
                if tp is None:
                    tp = tps[record.topic, record.partition] = record.tp
                if sid in self._summarised:
                    # Delivered again after its summary was stored (a crash, a rebalance): a new,
                    # partial summary must not replace the whole one. Windows still take it once,
                    # knowing the session's end even when its end record is not read again.
                    self._add_to_window(event, tp, record.offset)
                    ended = self._summarised[sid]
                    if ended is not None:
                        self.rollups.mark_ended(sid, ended)
                    continue
                accumulator = self.sessions.get(sid)
                if accumulator is None:
                    accumulator = self.sessions[sid] = SessionAccumulator(sid)
                    self._session_offsets[sid] = {}
                if accumulator.add(event):
                    self._partition_of.setdefault(sid, record.partition)
                    self._session_offsets[sid].setdefault(tp, record.offset)
                    self._agent.setdefault(sid, agent_of(event))
                    if accumulator.ended and sid not in self._ended_at:
                        self._ended_at[sid] = time.monotonic()
                    self._add_to_window(event, tp, record.offset)
            now = time.monotonic()
            if now - self._last_emit >= EMIT_INTERVAL_S:
                self._emit_soon(now)

    def _emit_soon(self, monotonic_now: float) -> asyncio.Task[None]:
        """Write what is due in a task of its own, so batches go on being folded meanwhile; one
        at a time. What it writes keeps its offsets held until it is written."""
        if self._emitting is None or self._emitting.done():
            self._last_emit = monotonic_now
            self._emitting = asyncio.get_running_loop().create_task(
                self._emit_logged(monotonic_now, datetime.now(UTC))
            )
        return self._emitting

    async def _emit_logged(self, monotonic_now: float, now: datetime) -> None:
        try:
            await self._emit_due(monotonic_now, now)
        except Exception:
            logger.exception("analytics: writing summaries failed; retrying next tick")

    def _add_to_window(self, event: Event, tp: TopicPartition, offset: int) -> None:
        key = self.rollups.add(event, tp)
        if key is not None:
            self._window_offsets.setdefault(key, {}).setdefault(tp, offset)

    def commit_offsets(self, processed: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        result = dict(processed)
        for offsets in (*self._session_offsets.values(), *self._window_offsets.values()):
            for tp, offset in offsets.items():
                if tp in result:
                    result[tp] = min(result[tp], offset)
        return result

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        self._assigned |= partitions
        async with self._lock:
            for tp in partitions:
                self.rollups.watch_source(tp)

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        self._assigned -= partitions
        async with self._lock:
            for tp in partitions:
                self.rollups.forget_source(tp)
            gone = {tp.partition for tp in partitions}
            for sid in [s for s, o in self._session_offsets.items() if any(tp.partition in gone for tp in o)]:
                self._forget(sid)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            # shielded: cancelling the ticker (at stop) must not cancel a write half done
            await asyncio.shield(self._emit_soon(time.monotonic()))

    async def _emit_due(self, monotonic_now: float, now: datetime) -> None:
        a = self.settings
        done: list[SessionSummary] = []
        # While a backlog is read, a session's other records may still be behind in another
        # partition: only a complete session is summarised then, never one that merely looks
        # ended or idle on the wall clock.
        live = self.context.caught_up()
        for sid, accumulator in list(self.sessions.items()):
            ended_at = self._ended_at.get(sid)
            if accumulator.complete or (
                live
                and ended_at is not None
                and monotonic_now - ended_at >= a.end_grace_s
                and self._holds_whole(sid)
            ):
                done.append(accumulator.summary())
            elif live and accumulator.is_idle(now, a.idle_timeout_s):
                done.append(accumulator.summary(now, idle_timeout_s=a.idle_timeout_s))
        # Wall-clock time closes windows only once the backlog is read: while catching up, a
        # window's later events may still be in another partition's backlog.
        watermark = self.rollups.watermark
        if live:
            watermark = max(watermark or now, now)
        windows = self.rollups.pop_closed_windows(watermark) if watermark is not None else []
        if not done and not windows:
            return
        await asyncio.gather(*(self._publish_summary(summary) for summary in done))
        # Off the event loop, which keeps fetching and heartbeating meanwhile (a write of many
        # rows takes a good part of a second).
        await asyncio.to_thread(self._write, done, windows)
        for summary in done:
            self._forget(summary.session_id)
            self._summarised[summary.session_id] = summary.ended_at if summary.status == "ended" else None
        for window in windows:
            self._window_offsets.pop(window.key, None)

    def _holds_whole(self, sid: str) -> bool:
        """Whether this instance reads every topic's partition of the session (its key's partition
        number: the event topics share their partition count). Right after a crash or while
        instances join, another member may still hold some of them: a session that ended without
        every record seen then waits for `complete` or for the idle timeout."""
        partition = self._partition_of.get(sid)
        if partition is None or not self._topics:
            return True
        return all(TopicPartition(topic, partition) in self._assigned for topic in self._topics)

    async def _publish_summary(self, summary: SessionSummary) -> None:
        context = SessionContext(
            session_id=summary.session_id,
            agent_name=self._agent.get(summary.session_id, "agent"),
            source=f"lkbus/{self.name}",
        )
        record = encode_event(SUMMARY_TYPE, summary.model_dump(mode="json"), context, 1, time.time())
        await self.context.publish(self.analytics_topic, record.key, record.value, record.headers)

    def _write(self, summaries: list[SessionSummary], windows: list[RollupWindow]) -> None:
        with DuckDBStore(self.settings.db_path) as store:
            if summaries:
                # Another instance (before a rebalance, or before a crash) may have stored a fuller
                # summary of the same session: a re-delivered part never replaces it.
                stored = store.event_counts([s.session_id for s in summaries])
                fuller = [s for s in summaries if s.events >= stored.get(s.session_id, 0)]
                store.upsert_sessions(fuller)
                self.summaries_written += len(summaries)
            if windows:
                # Merged with what other instances (or this one before a crash) stored.
                store.merge_rollups(windows)

    def _forget(self, sid: str) -> None:
        self.sessions.pop(sid, None)
        self._session_offsets.pop(sid, None)
        self._ended_at.pop(sid, None)
        self._agent.pop(sid, None)
        self._partition_of.pop(sid, None)
