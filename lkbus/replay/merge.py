"""Merge the records of many partitions into one stream ordered by record timestamp.

Each partition keeps its own offset order (so a session's events stay in `seq` order within
their topic): a record's merge key is the largest timestamp of its partition so far, so a
timestamp that goes back waits behind the ones before it. A record is released only when every
partition that still has records to come has buffered one with an equal or later key: the
usual merge, with bounded buffers (the source pauses a partition whose buffer is full). When
following, a partition that has caught up with its high watermark is not waited for, so live
records flow as they arrive.

Reading several topics, ties on the millisecond timestamp are broken by the microseconds of
the `ce_time` header (records of one session on different topics are often within the same
millisecond). Within one topic a session's records share a partition, whose order is kept.

The keys are computed and the released records sorted in C (`map`, `accumulate`, a stable
sort of the buffered runs), not record by record in Python: at hundreds of thousands of
records a second, that is most of the merge's cost.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from itertools import accumulate, islice
from operator import attrgetter, le
from typing import TYPE_CHECKING

from schemas.envelope import HEADER_TIME

if TYPE_CHECKING:
    from lkbus.replay.source import TP, SourceRecord


def order_key(record: SourceRecord) -> int:
    """Microseconds since the epoch: the record timestamp refined by its `ce_time` header."""
    ms = record.timestamp
    headers = record.headers
    # The producer writes ce_time fifth; look there first, then everywhere.
    if len(headers) > 4 and headers[4][0] == HEADER_TIME:
        headers = (headers[4],)
    for name, value in headers:
        if name == HEADER_TIME:
            # ...T12:00:00.123456Z: the fraction is at [20:26] in the canonical form.
            if len(value) == 27 and value[19:20] == b"." and value[20:26].isdigit():
                micros = int(value[20:26])
                if micros // 1000 == ms % 1000:
                    return ms * 1000 + micros % 1000
            break
    return ms * 1000


Keep = Callable[[bytes | None, Sequence[tuple[str, bytes]]], bool]
"""Decides from a record's key and headers whether it is wanted at all (a replay's filters)."""

_offset = attrgetter("offset")
_timestamp = attrgetter("timestamp")


class _Buffer:
    """One partition's records waiting to be released, with their merge keys."""

    __slots__ = ("keys", "records")

    def __init__(self) -> None:
        self.records: list[SourceRecord] = []
        self.keys: list[int] = []


class TimestampMerger:
    """Merge by timestamp; partitions are (topic, partition) pairs.

    `ranges` gives each partition's (next offset, limit): the limit is the stop offset when
    `bounded`, else the high watermark as last seen (raise it with `set_limit`). Records `keep`
    rules out are passed over (counted in `skipped`) instead of going through the merge.
    """

    def __init__(
        self, ranges: Mapping[TP, tuple[int, int | None]], *, bounded: bool, keep: Keep | None = None
    ) -> None:
        self.bounded = bounded
        self.keep = keep
        self.skipped = 0
        self._refine = len({topic for topic, _ in ranges}) > 1
        self._next: dict[TP, int] = {tp: start for tp, (start, _) in ranges.items()}
        self._limit: dict[TP, int] = {
            tp: start if stop is None else stop for tp, (start, stop) in ranges.items()
        }
        self._buffers: dict[TP, _Buffer] = {tp: _Buffer() for tp in ranges}
        self._latest: dict[TP, int] = dict.fromkeys(ranges, -1)
        """Each partition's largest key so far: where its next record's key starts from."""
        self._starving: set[TP] = {tp for tp in ranges if self._pending(tp)}

    def _pending(self, tp: TP) -> bool:
        return self._next[tp] < self._limit[tp]

    def add(self, tp: TP, records: Sequence[SourceRecord]) -> None:
        """Records fetched for `tp`, in offset order; those at or past a bounded limit are dropped,
        those `keep` rules out are skipped."""
        if not records:
            return
        limit = self._limit[tp]
        if self.bounded and records[-1].offset >= limit:
            records = records[: bisect_left(records, limit, key=_offset)]
            self._next[tp] = max(self._next[tp], limit)
        if records:
            self._next[tp] = max(self._next[tp], records[-1].offset + 1)
            keep = self.keep
            if keep is not None:
                wanted = [r for r in records if keep(r.key, r.headers)]
                self.skipped += len(records) - len(wanted)
                records = wanted
        if not self.bounded and self._next[tp] > limit:
            self._limit[tp] = self._next[tp]
        buffer = self._buffers[tp]
        if records:
            keys = list(map(order_key if self._refine else _timestamp, records))
            latest = self._latest[tp]
            if keys[0] < latest or not all(map(le, keys, islice(keys, 1, None))):
                keys = list(accumulate(keys, max, initial=latest))  # a timestamp went back
                del keys[0]
            self._latest[tp] = keys[-1]
            buffer.records.extend(records)
            buffer.keys.extend(keys)
        self._update_starving(tp)

    def advance(self, tp: TP, position: int) -> None:
        """The source's fetch position for `tp` (it moves past gaps and control records)."""
        if position > self._next[tp] and not self._buffers[tp].records:
            self._next[tp] = min(position, self._limit[tp]) if self.bounded else position
        self._update_starving(tp)

    def set_limit(self, tp: TP, high_watermark: int) -> None:
        """When following: the latest high watermark seen for `tp`."""
        if not self.bounded and high_watermark > self._limit[tp]:
            self._limit[tp] = high_watermark
            self._update_starving(tp)

    def _update_starving(self, tp: TP) -> None:
        if not self._buffers[tp].records and self._pending(tp):
            self._starving.add(tp)
        else:
            self._starving.discard(tp)

    def buffered(self, tp: TP) -> int:
        return len(self._buffers[tp].records)

    def done(self, tp: TP) -> bool:
        """Bounded reads: every record of `tp` up to its stop was fetched and released."""
        return self.bounded and not self._buffers[tp].records and not self._pending(tp)

    @property
    def finished(self) -> bool:
        """Bounded reads: every partition is done."""
        return self.bounded and not self._starving and not any(b.records for b in self._buffers.values())

    @property
    def starving(self) -> frozenset[TP]:
        """Partitions that hold up the merge: records are due but none is buffered."""
        return frozenset(self._starving)

    def pop_ready(self) -> list[SourceRecord]:
        """Every record that can be released in order now."""
        if self._starving:
            return []
        buffers = self._buffers
        # Partitions with records to come may still send keys as low as their latest one.
        bounds = [b.keys[-1] for tp, b in buffers.items() if b.records and self._pending(tp)]
        bound = min(bounds) if bounds else None
        keys: list[int] = []
        records: list[SourceRecord] = []
        for tp, buffer in buffers.items():
            cut = len(buffer.keys) if bound is None else bisect_right(buffer.keys, bound)
            if cut:
                keys.extend(buffer.keys[:cut])
                records.extend(buffer.records[:cut])
                del buffer.keys[:cut], buffer.records[:cut]
            if not buffer.records and self._pending(tp):
                self._starving.add(tp)
        if len(records) < 2:
            return records
        # Stable: equal keys keep partition order, and each partition's run is already in order.
        order = sorted(range(len(keys)), key=keys.__getitem__)
        return list(map(records.__getitem__, order))
