"""Rollups per agent name and minute: tumbling windows on event time with allowed lateness.

``RollupWindow`` is the pure, mergeable fold of one (agent, window) and is idempotent: it
counts each (session, seq) once, so a replayed or duplicated event changes nothing, and two
folds of the same window written by different consumer instances merge into the whole.
``Rollups`` routes events to windows, tracks which sessions are live, and hands out the
windows the watermark has closed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict

from consumers.analytics.dispatch import ByPayloadType
from consumers.analytics.stats import LatencyStats
from schemas.envelope import Event
from schemas.payloads import agent_v1 as a
from schemas.payloads import commands_v1 as c
from schemas.payloads import lifecycle_v1 as lc

WINDOW_S = 60
UNKNOWN_AGENT = "unknown"
"""The agent name of events that carry none."""
ROLLUP_LATENCIES = ("end_of_utterance", "transcription", "llm_ttft", "tts_ttfb")
"""Latencies a window can see on its own (the response latency spans windows)."""

_Key = tuple[str, int]


class RollupRow(BaseModel):
    """The result of one closed window, as stored."""

    model_config = ConfigDict(frozen=True)

    agent_name: str
    window_start: AwareDatetime
    window_end: AwareDatetime
    sessions_started: int = 0
    sessions_ended: int = 0
    concurrent_sessions: int = 0
    """Distinct sessions live at some point of the window."""
    away_episodes: int = 0
    prompts: int = 0
    closes: dict[str, int] = {}
    """Sessions ended in the window, by end reason."""
    latency: dict[str, LatencyStats] = {}


def window_start_of(t: datetime, window_s: int = WINDOW_S) -> datetime:
    """The start of the tumbling window holding ``t`` (UTC, aligned on the epoch)."""
    return _window_start(int(t.timestamp() // window_s) * window_s)


@functools.lru_cache(maxsize=4096)
def _window_start(epoch: int) -> datetime:
    # Every event asks for the start of its window; events of one window come together.
    return datetime.fromtimestamp(epoch, UTC)


def agent_of(event: Event) -> str:
    """The agent name a rollup files ``event`` under."""
    return event.agent_name or UNKNOWN_AGENT


@dataclass(slots=True)
class RollupWindow:
    """The fold of one agent's events in one window; mergeable and idempotent."""

    agent_name: str
    window_start: datetime
    window_s: int = WINDOW_S
    started: set[str] = field(default_factory=set)
    ended: dict[str, str] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)
    away: set[_Key] = field(default_factory=set)
    prompts: set[_Key] = field(default_factory=set)
    samples: dict[_Key, tuple[tuple[str, float], ...]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, datetime]:
        """(agent name, window start)."""
        return self.agent_name, self.window_start

    window_end: datetime = field(init=False)
    """The exclusive end of the window."""

    def __post_init__(self) -> None:
        self.window_end = self.window_start + timedelta(seconds=self.window_s)

    def accepts(self, event: Event) -> bool:
        """Whether ``event`` belongs to this window."""
        return agent_of(event) == self.agent_name and self.window_start <= event.time < self.window_end

    def add(self, event: Event) -> None:
        """Fold ``event`` in; ValueError when it belongs to another window."""
        if not self.accepts(event):
            raise ValueError("event outside this window")
        self.fold(event)

    def fold(self, event: Event) -> None:
        """Fold ``event`` in, known to belong to this window (``Rollups`` routes it here)."""
        self.active.add(event.session_id)
        data = event.data
        _ON_PAYLOAD[type(data)](self, event, data)

    def _session_started(self, event: Event, data: lc.SessionStartedV1) -> None:
        self.started.add(event.session_id)

    def _session_ended(self, event: Event, data: lc.SessionEndedV1) -> None:
        self.ended[event.session_id] = data.reason

    def _user_state(self, event: Event, data: a.UserStateChangedV1) -> None:
        if data.new_state == "away":
            self.away.add((event.session_id, event.seq or 0))

    def _command_executed(self, event: Event, data: c.CommandExecutedV1) -> None:
        if data.command_type == "prompt_user":
            self.prompts.add((event.session_id, event.seq or 0))

    def _metrics(self, event: Event, data: a.MetricsCollectedV1) -> None:
        m = data.metrics
        key = (event.session_id, event.seq or 0)
        if isinstance(m, a.EOUMetricsV1):
            self.samples[key] = (
                ("end_of_utterance", m.end_of_utterance_delay),
                ("transcription", m.transcription_delay),
            )
        elif isinstance(m, (a.LLMMetricsV1, a.RealtimeModelMetricsV1)) and m.ttft >= 0:
            self.samples[key] = (("llm_ttft", m.ttft),)
        elif isinstance(m, a.TTSMetricsV1) and m.ttfb >= 0:
            self.samples[key] = (("tts_ttfb", m.ttfb),)

    def _ignore(self, event: Event, data: object) -> None:
        return None

    def mark_active(self, session_id: str) -> None:
        """Count ``session_id`` as live in this window even without an event in it."""
        self.active.add(session_id)

    def merge(self, other: RollupWindow) -> RollupWindow:
        """A new window holding both folds; ValueError for windows of different keys."""
        if other.key != self.key or other.window_s != self.window_s:
            raise ValueError("cannot merge windows of different agents or times")
        return RollupWindow(
            self.agent_name,
            self.window_start,
            self.window_s,
            self.started | other.started,
            {**self.ended, **other.ended},
            self.active | other.active,
            self.away | other.away,
            self.prompts | other.prompts,
            {**self.samples, **other.samples},
        )

    def to_json(self) -> bytes:
        """The fold as JSON, for ``from_json``: what the store merges windows written apart."""
        return orjson.dumps(
            {
                "agent_name": self.agent_name,
                "window_start": self.window_start.timestamp(),
                "window_s": self.window_s,
                "started": sorted(self.started),
                "ended": self.ended,
                "active": sorted(self.active),
                "away": sorted(self.away),
                "prompts": sorted(self.prompts),
                "samples": sorted(
                    [sid, seq, [list(p) for p in pairs]] for (sid, seq), pairs in self.samples.items()
                ),
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> RollupWindow:
        """The fold ``to_json`` wrote; ValueError when ``raw`` is not one."""
        try:
            d = orjson.loads(raw)
            return cls(
                str(d["agent_name"]),
                datetime.fromtimestamp(float(d["window_start"]), UTC),
                int(d["window_s"]),
                {str(x) for x in d["started"]},
                {str(k): str(v) for k, v in d["ended"].items()},
                {str(x) for x in d["active"]},
                {(str(sid), int(seq)) for sid, seq in d["away"]},
                {(str(sid), int(seq)) for sid, seq in d["prompts"]},
                {
                    (str(sid), int(seq)): tuple((str(kind), float(value)) for kind, value in pairs)
                    for sid, seq, pairs in d["samples"]
                },
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a rollup window fold: {exc}") from exc

    def closed(self, watermark: datetime, allowed_lateness_s: float) -> bool:
        """Whether the watermark has passed the window's end plus the allowed lateness."""
        return watermark >= self.window_end + timedelta(seconds=allowed_lateness_s)

    def row(self) -> RollupRow:
        """The window's result."""
        values: dict[str, list[float]] = {k: [] for k in ROLLUP_LATENCIES}
        for pairs in self.samples.values():
            for kind, value in pairs:
                values[kind].append(value)
        closes: dict[str, int] = {}
        for reason in self.ended.values():
            closes[reason] = closes.get(reason, 0) + 1
        return RollupRow(
            agent_name=self.agent_name,
            window_start=self.window_start,
            window_end=self.window_end,
            sessions_started=len(self.started),
            sessions_ended=len(self.ended),
            concurrent_sessions=len(self.active),
            away_episodes=len(self.away),
            prompts=len(self.prompts),
            closes=dict(sorted(closes.items())),
            latency={k: LatencyStats.of(v) for k, v in values.items()},
        )


_ON_PAYLOAD: ByPayloadType[Callable[[RollupWindow, Event, Any], None]] = ByPayloadType(
    {
        lc.SessionStartedV1: RollupWindow._session_started,
        lc.SessionEndedV1: RollupWindow._session_ended,
        a.UserStateChangedV1: RollupWindow._user_state,
        c.CommandExecutedV1: RollupWindow._command_executed,
        a.MetricsCollectedV1: RollupWindow._metrics,
    },
    default=RollupWindow._ignore,
)
"""What each payload type does to a window's fold; other payloads only mark the session live."""


@dataclass(slots=True)
class _Live:
    agent_name: str
    first: datetime
    last: datetime
    ended: datetime | None = None
    sources: set[Hashable] = field(default_factory=set)


class Rollups:
    """All open windows. ``add`` events in any order; ``pop_closed`` returns finished rows.

    Events come from sources (Kafka partitions), each in its own order. The watermark is the
    earliest of the sources' latest event times: a source read behind the others holds it
    back, so its events are not taken for late while a backlog is read. An event whose window
    the watermark has closed is dropped and counted in ``late_dropped``. A session counts as
    live in a window between its first event and its end (or ``session_idle_s`` after its
    last event).
    """

    def __init__(
        self, *, window_s: int = WINDOW_S, allowed_lateness_s: float = 30.0, session_idle_s: float = 300.0
    ) -> None:
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.session_idle_s = session_idle_s
        self.late_dropped = 0
        self._windows: dict[tuple[str, datetime], RollupWindow] = {}
        self._live: dict[str, _Live] = {}
        self._latest: dict[Hashable, datetime | None] = {}

    @property
    def watermark(self) -> datetime | None:
        """The earliest of the sources' latest event times (None while a source has none)."""
        times = self._latest.values()
        if not times or None in times:
            return None
        return min(t for t in times if t is not None)

    def watch_source(self, source: Hashable) -> None:
        """A source to wait for (an assigned partition): no window closes before it reports."""
        self._latest.setdefault(source, None)

    def add(self, event: Event, source: Hashable = None) -> tuple[str, datetime] | None:
        """Fold ``event`` (read from ``source``) into its window; the window's key, or None when
        it came after the window closed."""
        agent = agent_of(event)
        start = window_start_of(event.time, self.window_s)
        key = (agent, start)
        window = self._windows.get(key)
        if window is None:
            window = RollupWindow(agent, start, self.window_s)
            watermark = self.watermark
            if watermark is not None and window.closed(watermark, self.allowed_lateness_s):
                self.late_dropped += 1
                return None
            self._windows[key] = window
        window.fold(event)
        self._track(event, agent, source)
        latest = self._latest.get(source)
        if latest is None or event.time > latest:
            self._latest[source] = event.time
        return key

    def mark_ended(self, session_id: str, ended: datetime) -> None:
        """The session ended at ``ended`` (known from its stored summary)."""
        live = self._live.get(session_id)
        if live is not None:
            live.ended = ended if live.ended is None else min(live.ended, ended)

    def forget_source(self, source: Hashable) -> None:
        """A source this instance no longer reads (a revoked partition): it holds nothing back,
        and its sessions no longer count as live (another instance reads their end now)."""
        self._latest.pop(source, None)
        for sid, live in list(self._live.items()):
            if source in live.sources:
                live.sources.discard(source)
                if not live.sources:
                    del self._live[sid]

    def _track(self, event: Event, agent: str, source: Hashable) -> None:
        time = event.time
        live = self._live.get(event.session_id)
        if live is None:
            live = self._live[event.session_id] = _Live(agent, time, time)
        live.sources.add(source)
        if time < live.first:
            live.first = time
        elif time > live.last:
            live.last = time
        if isinstance(event.data, (lc.SessionEndedV1, a.CloseV1)) and (
            live.ended is None or time < live.ended
        ):
            live.ended = time

    def _live_in(self, window: RollupWindow) -> list[str]:
        idle = timedelta(seconds=self.session_idle_s)
        out: list[str] = []
        for sid, live in self._live.items():
            until = live.ended if live.ended is not None else live.last + idle
            if (
                live.agent_name == window.agent_name
                and live.first < window.window_end
                and until >= window.window_start
            ):
                out.append(sid)
        return out

    def pop_closed(self, watermark: datetime | None = None) -> list[RollupRow]:
        """Remove and return the rows of windows closed at ``watermark`` (default: the current one)."""
        return [w.row() for w in self.pop_closed_windows(watermark)]

    def pop_closed_windows(self, watermark: datetime | None = None) -> list[RollupWindow]:
        """Remove and return the folds of windows closed at ``watermark`` (default: the current one)."""
        mark = watermark or self.watermark
        if mark is None:
            return []
        done = [w for w in self._windows.values() if w.closed(mark, self.allowed_lateness_s)]
        rows = [self._finish(w) for w in sorted(done, key=lambda w: (w.window_start, w.agent_name))]
        horizon = mark - timedelta(seconds=self.allowed_lateness_s + self.window_s + self.session_idle_s)
        self._live = {
            sid: live
            for sid, live in self._live.items()
            if (live.ended if live.ended is not None else live.last) >= horizon
        }
        return rows

    def flush(self) -> list[RollupRow]:
        """Remove and return every open window's row, closed or not (at shutdown)."""
        return [w.row() for w in self.flush_windows()]

    def flush_windows(self) -> list[RollupWindow]:
        """Remove and return every open window's fold, closed or not (at shutdown)."""
        windows = sorted(self._windows.values(), key=lambda w: (w.window_start, w.agent_name))
        return [self._finish(w) for w in windows]

    def _finish(self, window: RollupWindow) -> RollupWindow:
        del self._windows[window.key]
        for sid in self._live_in(window):
            window.mark_active(sid)
        return window
