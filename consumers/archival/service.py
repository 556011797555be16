"""The archival consumer (`lkbus consume archival`): every record of the event topics into files.

Records that are not valid events are archived as they are (the archive is the record of what
happened) and counted: the consumer declares `wants_raw`, so the runtime hands them over as
`Undecodable` instead of dead-lettering them. File work runs in a worker thread, one batch at a
time, so the event loop keeps fetching and heartbeating.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from aiokafka import TopicPartition

from consumers.archival.archiver import Archiver
from consumers.archival.settings import ArchivalSettings, archival_settings
from consumers.archival.storage import ArchiveRoot
from consumers.runtime import ConsumerContext, EventConsumer, Incoming
from consumers.runtime.records import Checked, Undecodable
from lkbus.settings import Settings

logger = logging.getLogger("lkbus.consumers.archival")


class ArchivalConsumer(EventConsumer):
    """`lkbus consume archival`."""

    name = "archival"
    wants_raw: ClassVar[bool] = True

    @property
    def needs_events(self) -> bool:
        """JSON Lines keep the record as it came: checking it is enough. Parquet rows also hold
        the envelope's fields as columns."""
        return self.config.format == "parquet"

    def __init__(self, config: ArchivalSettings | None = None) -> None:
        self._config = config
        self.archiver: Archiver | None = None
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        self._last_retention: float | None = None

    @property
    def config(self) -> ArchivalSettings:
        if self._config is None:
            self._config = archival_settings()
        return self._config

    def subscriptions(self, settings: Settings) -> list[str]:
        if self._config is None:
            self._config = archival_settings(settings)
        return list(self.config.topics or settings.topics.event_topics)

    async def start(self, context: ConsumerContext) -> None:
        await super().start(context)
        if self._config is None:
            self._config = archival_settings(context.settings)
        root = ArchiveRoot(self.config.root, self.config.staging_dir)
        self.archiver = Archiver(root, self.config)
        await asyncio.to_thread(root.prepare)
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self.archiver is not None:
            async with self._lock:
                await asyncio.to_thread(self.archiver.close)
            stats = self.archiver.stats
            logger.info(
                "archival: %d records archived (%d not valid events) in %d files, %d delivered again skipped",
                stats.archived,
                stats.invalid,
                stats.files,
                stats.skipped,
            )

    async def handle(self, batch: Sequence[Incoming | Checked | Undecodable]) -> None:
        archiver = self._archiver()
        async with self._lock:
            await asyncio.to_thread(archiver.append, batch)

    def commit_offsets(self, processed: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        return self._archiver().hold(processed)

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        archiver = self._archiver()
        async with self._lock:
            await asyncio.to_thread(archiver.assign, partitions)

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        archiver = self._archiver()
        async with self._lock:
            await asyncio.to_thread(archiver.revoke, partitions)

    def _archiver(self) -> Archiver:
        assert self.archiver is not None, "the archival consumer is not started"
        return self.archiver

    async def _tick_forever(self) -> None:
        archiver = self._archiver()
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.tick_s)
            try:
                async with self._lock:
                    await asyncio.to_thread(archiver.roll_due)
            except Exception as exc:  # noqa: BLE001 - a failing roll is logged; the next batch raises
                logger.warning("archival: rolling open files failed (%s)", exc.__class__.__name__)
            days = self.config.retention_days
            if days is not None and (
                self._last_retention is None
                or loop.time() - self._last_retention >= self.config.retention_check_s
            ):
                self._last_retention = loop.time()
                try:
                    removed = await asyncio.to_thread(
                        prune, archiver.root, datetime.now(UTC) - timedelta(days=days)
                    )
                except Exception as exc:  # noqa: BLE001 - retention is retried at the next pass
                    logger.warning("archival: retention pass failed (%s)", exc.__class__.__name__)
                else:
                    if removed:
                        logger.info("archival: retention removed %d files", removed)


def prune(root: ArchiveRoot, before: datetime) -> int:
    """Delete the archive files whose hour ended at or before `before`; returns how many."""
    removed = 0
    for file in root.files():
        if file.hour is not None and file.hour + timedelta(hours=1) <= before:
            root.delete(file)
            removed += 1
    return removed
