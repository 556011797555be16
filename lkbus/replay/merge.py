"""Merge the records of many partitions into one stream ordered by record timestamp.

Each partition keeps its own offset order (so a session's events stay in `seq` order within
their topic). A record is released only when every partition that still has records to come
has a buffered head to compare with: the usual k-way merge, with bounded buffers (the source
pauses a partition whose buffer is full). When following, a partition that has caught up with
its high watermark is not waited for, so live records flow as they arrive.

Ties on the millisecond timestamp are broken by the microseconds of the `ce_time` header
(records of one session on different topics are often within the same millisecond).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Mapping, Sequence
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


class TimestampMerger:
    """k-way merge by `order_key`; partitions are (topic, partition) pairs.

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
        self._next: dict[TP, int] = {tp: start for tp, (start, _) in ranges.items()}
        self._limit: dict[TP, int] = {
            tp: start if stop is None else stop for tp, (start, stop) in ranges.items()
        }
        self._buffers: dict[TP, deque[SourceRecord]] = {tp: deque() for tp in ranges}
        self._heap: list[tuple[int, int, TP]] = []
        self._counter = 0
        self._starving: set[TP] = {tp for tp in ranges if self._pending(tp)}

    def _pending(self, tp: TP) -> bool:
        return self._next[tp] < self._limit[tp]

    def add(self, tp: TP, records: Sequence[SourceRecord]) -> None:
        """Records fetched for `tp`, in offset order; those at or past a bounded limit are dropped,
        those `keep` rules out are skipped."""
        if not records:
            return
        buffer = self._buffers[tp]
        was_empty = not buffer
        limit = self._limit[tp]
        keep = self.keep
        for record in records:
            if self.bounded and record.offset >= limit:
                self._next[tp] = max(self._next[tp], limit)
                break
            if keep is None or keep(record.key, record.headers):
                buffer.append(record)
            else:
                self.skipped += 1
            self._next[tp] = record.offset + 1
        if not self.bounded and self._next[tp] > limit:
            self._limit[tp] = self._next[tp]
        if buffer:
            self._starving.discard(tp)
            if was_empty:
                self._push(tp)
        elif self._pending(tp):
            self._starving.add(tp)
        else:
            self._starving.discard(tp)

    def advance(self, tp: TP, position: int) -> None:
        """The source's fetch position for `tp` (it moves past gaps and control records)."""
        if position > self._next[tp] and not self._buffers[tp]:
            self._next[tp] = min(position, self._limit[tp]) if self.bounded else position
        self._update_starving(tp)

    def set_limit(self, tp: TP, high_watermark: int) -> None:
        """When following: the latest high watermark seen for `tp`."""
        if not self.bounded and high_watermark > self._limit[tp]:
            self._limit[tp] = high_watermark
            self._update_starving(tp)

    def _update_starving(self, tp: TP) -> None:
        if not self._buffers[tp] and self._pending(tp):
            self._starving.add(tp)
        else:
            self._starving.discard(tp)

    def _push(self, tp: TP) -> None:
        self._counter += 1
        heapq.heappush(self._heap, (order_key(self._buffers[tp][0]), self._counter, tp))

    def buffered(self, tp: TP) -> int:
        return len(self._buffers[tp])

    def done(self, tp: TP) -> bool:
        """Bounded reads: every record of `tp` up to its stop was fetched and released."""
        return self.bounded and not self._buffers[tp] and not self._pending(tp)

    @property
    def finished(self) -> bool:
        """Bounded reads: every partition is done."""
        return self.bounded and not self._heap and not self._starving

    @property
    def starving(self) -> frozenset[TP]:
        """Partitions that hold up the merge: records are due but none is buffered."""
        return frozenset(self._starving)

    def pop_ready(self) -> list[SourceRecord]:
        """Every record that can be released in order now."""
        out: list[SourceRecord] = []
        if self._starving:
            return out
        heap, buffers = self._heap, self._buffers
        while heap:
            _, _, tp = heap[0]
            buffer = buffers[tp]
            out.append(buffer.popleft())
            if buffer:
                self._counter += 1
                heapq.heapreplace(heap, (order_key(buffer[0]), self._counter, tp))
            else:
                heapq.heappop(heap)
                if self._pending(tp):
                    self._starving.add(tp)
                    break
        return out
