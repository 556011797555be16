"""Fake audio IO for a session that has no room: a silent microphone and a timed speaker."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from livekit import rtc
from livekit.agents.voice import io

__all__ = ["SilentAudioInput", "TimedAudioOutput"]


class SilentAudioInput(io.AudioInput):
    """Yields silent mono frames in real time until `close()`."""

    def __init__(self, *, sample_rate: int = 16000, frame_ms: int = 20) -> None:
        super().__init__(label="lkbus.sim.SilentAudioInput")
        self._sample_rate = sample_rate
        self._samples = sample_rate * frame_ms // 1000
        self._frame_duration = self._samples / sample_rate
        self._next_at: float | None = None
        self._closed = asyncio.Event()
        self.frames_sent = 0

    def close(self) -> None:
        """End the iteration; the session's audio forwarding stops."""
        self._closed.set()

    async def __anext__(self) -> rtc.AudioFrame:
        if self._closed.is_set():
            raise StopAsyncIteration
        now = time.monotonic()
        if self._next_at is None or self._next_at < now - 1.0:
            self._next_at = now
        delay = self._next_at - now
        if delay > 0:
            try:
                await asyncio.wait_for(self._closed.wait(), delay)
            except TimeoutError:
                pass
            else:
                raise StopAsyncIteration
        self._next_at += self._frame_duration
        self.frames_sent += 1
        return rtc.AudioFrame(
            data=b"\x00\x00" * self._samples,
            sample_rate=self._sample_rate,
            num_channels=1,
            samples_per_channel=self._samples,
        )


@dataclass
class _Segment:
    pushed: float = 0.0  # seconds of audio captured
    played: float = 0.0  # seconds played before `running_since`
    running_since: float | None = None  # wall clock; None while not playing
    started: bool = False
    flushed: bool = False
    done: bool = False
    timer: asyncio.TimerHandle | None = None

    def position(self, now: float, speed: float) -> float:
        if self.running_since is None:
            return self.played
        return min(self.pushed, self.played + (now - self.running_since) * speed)


class TimedAudioOutput(io.AudioOutput):
    """Plays captured audio out in wall-clock time, `speed` times faster than real.

    Segments (ended by `flush()`) play one after another; each reports
    `on_playback_started` when it starts playing and `on_playback_finished`
    when it has played out, or at once, interrupted, on `clear_buffer()`.
    `pause()`/`resume()` stop and restart the clock, which lets the session
    resume speech after a false interruption.
    """

    def __init__(self, *, speed: float = 1.0, sample_rate: int | None = None) -> None:
        super().__init__(
            label="lkbus.sim.TimedAudioOutput",
            capabilities=io.AudioOutputCapabilities(pause=True),
            sample_rate=sample_rate,
        )
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._speed = speed
        self._segments: list[_Segment] = []  # not yet finished, in playout order
        self._current: _Segment | None = None  # still capturing
        self._paused = False
        self.played_duration = 0.0

    @property
    def paused(self) -> bool:
        return self._paused

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if self._current is None:
            self._current = _Segment()
            self._segments.append(self._current)
        self._current.pushed += frame.duration
        self._advance()

    def flush(self) -> None:
        super().flush()
        segment, self._current = self._current, None
        if segment is not None:
            segment.flushed = True
            self._advance()

    def clear_buffer(self) -> None:
        now = time.time()
        segments, self._segments, self._current = self._segments, [], None
        for segment in segments:
            self._finish(segment, segment.position(now, self._speed), interrupted=True)

    def pause(self) -> None:
        if self._paused:
            return
        self._paused = True
        now = time.time()
        for segment in self._segments:
            if segment.running_since is not None:
                segment.played = segment.position(now, self._speed)
                segment.running_since = None
            if segment.timer is not None:
                segment.timer.cancel()
                segment.timer = None

    def resume(self) -> None:
        if not self._paused:
            return
        self._paused = False
        self._advance()

    def _advance(self) -> None:
        """Start the head segment if idle and (re)arm its end-of-playout timer."""
        if self._paused or not self._segments:
            return
        head = self._segments[0]
        now = time.time()
        if head.running_since is None:
            head.running_since = now
            if not head.started:
                head.started = True
                self.on_playback_started(created_at=now)
        if head.timer is not None:
            head.timer.cancel()
            head.timer = None
        if head.flushed:
            remaining = (head.pushed - head.position(now, self._speed)) / self._speed
            head.timer = asyncio.get_running_loop().call_later(max(0.0, remaining), self._on_played_out, head)

    def _on_played_out(self, segment: _Segment) -> None:
        segment.timer = None
        if segment in self._segments:
            self._segments.remove(segment)
        self._finish(segment, segment.pushed, interrupted=False)
        self._advance()

    def _finish(self, segment: _Segment, position: float, *, interrupted: bool) -> None:
        if segment.done:
            return
        segment.done = True
        if segment.timer is not None:
            segment.timer.cancel()
            segment.timer = None
        self.played_duration += position
        self.on_playback_finished(playback_position=position, interrupted=interrupted)
