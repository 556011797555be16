"""`replay()`: read records from a source, decode, filter, and hand them to a sink.

The CLI (`lkbus replay`) is a thin layer over this function; tests call it directly.
Memory stays bounded: records stream through in batches, nothing collects a topic.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Literal, TextIO

from lkbus.replay.exceptions import ArchiveUnavailableError, ReplayOptionError
from lkbus.replay.filters import CompiledFilter, EventFilter
from lkbus.replay.kafka_source import KafkaRecordSource, partition_counts
from lkbus.replay.position import AtTime, Beginning, End, Position
from lkbus.replay.sinks import Item, JsonLinesSink, RepublishSink, Sink, TimelineSink
from lkbus.replay.source import ReadRequest, RecordSource, SourceRecord
from lkbus.settings import Settings
from schemas import DecodeError, current_events, decode

Format = Literal["timeline", "jsonl"]
CHUNK = 256
"""Records decoded and written together."""
_value = attrgetter("value")
_headers = attrgetter("headers")
ProgressCallback = Callable[[int, int | None], None]
"""Called with (records read, records to read or None when following) after each batch."""


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """Everything `lkbus replay` can be asked; the defaults replay the event topics whole."""

    topics: tuple[str, ...] = ()
    """Topics to read; empty means the three event topics of the settings."""
    start: Position = field(default_factory=Beginning)
    stop: Position | None = None
    """Where to stop (exclusive for offsets, inclusive for times); None is the end, or never
    when following."""
    follow: bool = False
    filter: EventFilter = field(default_factory=EventFilter)
    format: Format = "timeline"
    to_topic: str | None = None
    """Re-publish to this topic instead of printing."""
    speed: float | None = 1.0
    """Re-publishing pace: 1 = as recorded, 10 = ten times faster, None = as fast as possible."""
    count: int | None = None
    """Stop after this many events shown or sent."""
    archive: Path | None = None
    redact: bool = False
    """Timeline only: hide what was said and replace participant identities by aliases."""

    def check(self) -> None:
        """Raise `ReplayOptionError` for options that do not go together."""
        if self.follow and self.stop is not None:
            raise ReplayOptionError("--follow reads past the end and never stops; drop --to")
        if (
            isinstance(self.start, AtTime)
            and isinstance(self.stop, AtTime)
            and self.start.time > self.stop.time
        ):
            raise ReplayOptionError(f"--from {self.start} is after --to {self.stop}; swap them")
        if self.speed is not None and not self.speed > 0:
            raise ReplayOptionError("--speed must be more than 0 (1, 10x, 0.5x) or max")
        if self.count is not None and self.count < 1:
            raise ReplayOptionError("--count must be at least 1")
        if self.redact and (self.to_topic is not None or self.format != "timeline"):
            raise ReplayOptionError(
                "--redact hides text in the timeline only; JSON Lines and --to-topic copy the records "
                "as recorded (keep text out of Kafka with LKBUS_PUBLISHER__REDACT_TEXT)"
            )


@dataclass(slots=True)
class ReplayStats:
    """What a replay did."""

    read: int = 0
    """Records read from the source."""
    total: int | None = None
    """Records between --from and --to when the read started (None when following)."""
    shown: int = 0
    """Events that passed the filters and were written or sent."""
    undecodable: int = 0
    elapsed_s: float = 0.0


def open_source(settings: Settings, options: ReplayOptions) -> RecordSource:
    """The source `options` ask for: Kafka, or the archive of the archival consumer."""
    if options.archive is not None:
        try:
            import consumers.archival.reader  # noqa: F401 - the reader this source needs
            from lkbus.replay.archive_source import ArchiveRecordSource
        except ImportError:
            raise ArchiveUnavailableError(
                f"--from-archive {options.archive}: reading archives is not available in this "
                "installation (no consumers.archival); replay from Kafka with --from/--to"
            ) from None
        return ArchiveRecordSource(options.archive)
    return KafkaRecordSource(settings.kafka)


async def replay(
    settings: Settings,
    options: ReplayOptions,
    out: TextIO,
    *,
    err: TextIO | None = None,
    on_progress: ProgressCallback | None = None,
    stop: asyncio.Event | None = None,
    source: RecordSource | None = None,
) -> ReplayStats:
    """Replay records to `out` (timeline or JSON Lines) or to `options.to_topic`.

    Setting `stop` ends the replay cleanly (the CLI sets it on SIGINT/SIGTERM); a follow
    replay runs until then. `source` replaces the source `options` would open (tests).
    """
    options.check()
    err = err if err is not None else sys.stderr
    stop = stop if stop is not None else asyncio.Event()
    topics = options.topics or settings.topics.event_topics
    if options.to_topic in topics and options.follow:
        raise ReplayOptionError(
            f"--to-topic {options.to_topic} is also read, and --follow would loop forever; pick another topic"
        )
    compiled = options.filter.compiled()
    request = ReadRequest(
        topics=tuple(topics),
        start=options.start,
        stop=None if options.follow else (options.stop if options.stop is not None else End()),
        # Records the key or type already rule out skip the merge (and everything after it).
        keep=None if compiled.empty else compiled.prefilter,
    )
    started = time.monotonic()
    stats = ReplayStats()
    src = source if source is not None else open_source(settings, options)
    async with src:
        plan = await src.open(request)
        stats.total = plan.total
        sink = await _open_sink(settings, options, out, err, stop)
        try:
            await _pump(src, sink, options, compiled, stats, stop, on_progress)
        finally:
            await sink.close()
    stats.elapsed_s = time.monotonic() - started
    return stats


async def _open_sink(
    settings: Settings, options: ReplayOptions, out: TextIO, err: TextIO, stop: asyncio.Event
) -> Sink:
    if options.to_topic is not None:
        await partition_counts(settings.kafka, [options.to_topic])
        sink = RepublishSink(settings.kafka, options.to_topic, speed=options.speed, stop=stop, err=err)
        await sink.start()
        return sink
    if options.format == "jsonl":
        return JsonLinesSink(out, err)
    single_session = len(options.filter.sessions) == 1 and not any(
        c in options.filter.sessions[0] for c in "*?["
    )
    return TimelineSink(out, show_session=not single_session, redact=options.redact)


async def _pump(
    source: RecordSource,
    sink: Sink,
    options: ReplayOptions,
    compiled: CompiledFilter,
    stats: ReplayStats,
    stop: asyncio.Event,
    on_progress: ProgressCallback | None,
) -> None:
    filtering = not compiled.empty
    matches = compiled.matches  # the key and type prefilter ran in the source (`ReadRequest.keep`)
    # No filter looks at the events: records the sink can pass on as they are are only checked.
    check_only = (not filtering or compiled.types_only) and sink.takes_checked
    remaining = options.count

    async def emit(items: list[Item]) -> bool:
        """Write items (no more than --count allows); False when the replay is over."""
        if remaining is not None:
            items = items[:remaining]
        return done(await sink.write(items) if items else 0, len(items))

    async def emit_checked(records: Sequence[SourceRecord]) -> bool:
        """`emit` for records that are all current events, passed on as they are."""
        if remaining is not None:
            records = records[:remaining]
        return done(await sink.write_checked(records), len(records))

    def done(written: int, given: int) -> bool:
        nonlocal remaining
        stats.shown += written
        if remaining is not None:
            remaining -= written
        return written == given and (remaining is None or remaining > 0) and not stop.is_set()

    skipped = 0
    async with aclosing(source.batches(stop)) as batches:
        async for batch in batches:
            stats.read += source.skipped - skipped  # read, and ruled out by the source
            skipped = source.skipped
            # Small chunks keep few decoded events alive at once: the garbage collector's
            # cost grows with live objects, and it dominates when whole batches are held.
            for first in range(0, len(batch), CHUNK):
                chunk = batch[first : first + CHUNK]
                stats.read += len(chunk)
                current = current_events(map(_value, chunk), map(_headers, chunk)) if check_only else None
                if current is not None and all(current):  # the common case, without a loop here
                    if not await emit_checked(chunk):
                        return
                    continue
                items: list[Item] = []
                for i, record in enumerate(chunk):
                    value = record.value
                    if current is not None and current[i]:
                        items.append((record, None))
                        continue
                    error: Exception | None = None
                    try:
                        event = decode(value, record.headers) if value is not None else None
                    except Exception as exc:  # noqa: BLE001 - one bad record never ends a replay
                        event, error = None, exc
                    if event is None:
                        # Rare: write what came before, so the report stays in its place.
                        if not await emit(items):
                            return
                        items = []
                        _undecodable(record, error, sink, stats)
                    elif not filtering or matches(event):
                        items.append((record, event))
                if not await emit(items):
                    return
            if on_progress is not None:
                on_progress(stats.read, stats.total)
    stats.read += source.skipped - skipped  # ruled out after the last batch yielded


def _undecodable(record: SourceRecord, exc: Exception | None, sink: Sink, stats: ReplayStats) -> None:
    if exc is None:
        reason = "no value (a tombstone)"
    elif isinstance(exc, DecodeError):
        reason = str(exc)  # names the rule broken and where, never the value
    else:
        reason = f"unexpected {exc.__class__.__name__} while decoding"
    stats.undecodable += 1
    sink.undecodable(record, reason)
