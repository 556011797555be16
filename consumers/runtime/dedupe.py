"""Helpers for handlers that must drop duplicates (delivery is at least once)."""

from __future__ import annotations

from collections import OrderedDict

from schemas import Event


class SeenIds:
    """The last `capacity` event ids seen; `add` says whether an id is new."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, event_id: str) -> bool:
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True


class SessionSeqs:
    """Per session, the seqs seen so far; `add` says whether (session, seq) is new."""

    def __init__(self) -> None:
        self._contiguous: dict[str, int] = {}
        self._ahead: dict[str, set[int]] = {}

    def add(self, event: Event) -> bool:
        if event.seq is None:
            return True
        session = event.session_id
        done = self._contiguous.get(session, 0)
        ahead = self._ahead.setdefault(session, set())
        if event.seq <= done or event.seq in ahead:
            return False
        ahead.add(event.seq)
        while done + 1 in ahead:
            done += 1
            ahead.discard(done)
        self._contiguous[session] = done
        return True

    def missing(self, session_id: str) -> int:
        """Seqs still missing below the highest seen (gaps)."""
        ahead = self._ahead.get(session_id, set())
        return (max(ahead) - self._contiguous.get(session_id, 0) - len(ahead)) if ahead else 0

    def forget(self, session_id: str) -> None:
        self._contiguous.pop(session_id, None)
        self._ahead.pop(session_id, None)
