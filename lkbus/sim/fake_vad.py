"""A VAD whose streams emit speech events when told to, not from audio."""

from __future__ import annotations

import asyncio
import time

from livekit.agents import vad

__all__ = ["FakeVAD", "FakeVADStream"]


class FakeVAD(vad.VAD):
    """VAD driven by the test: `start_of_speech()`, `inference_done()`, `end_of_speech()`.

    Events go to every open stream the session created; audio pushed into the
    streams is consumed and ignored.
    """

    def __init__(self, *, update_interval: float = 0.1) -> None:
        super().__init__(capabilities=vad.VADCapabilities(update_interval=update_interval))
        self._streams: list[FakeVADStream] = []
        self._stream_opened = asyncio.Event()

    @property
    def model(self) -> str:
        return "fake-vad"

    @property
    def provider(self) -> str:
        return "lkbus-sim"

    def stream(self) -> FakeVADStream:
        stream = FakeVADStream(self)
        self._streams.append(stream)
        self._stream_opened.set()
        return stream

    @property
    def open_streams(self) -> list[FakeVADStream]:
        """Streams that still accept events."""
        self._streams = [s for s in self._streams if not s.closed]
        return list(self._streams)

    async def wait_for_stream(self, timeout: float = 2.0) -> None:
        """Wait until the session has opened a stream."""
        while not self.open_streams:
            self._stream_opened.clear()
            await asyncio.wait_for(self._stream_opened.wait(), timeout)

    def start_of_speech(self, *, speech_duration: float = 0.0) -> None:
        """Report that the user started speaking `speech_duration` seconds ago."""
        self._emit(vad.VADEventType.START_OF_SPEECH, speech_duration=speech_duration, speaking=True)

    def inference_done(
        self, *, speaking: bool, speech_duration: float = 0.0, silence_duration: float = 0.0
    ) -> None:
        """Report one inference window (the session uses these for interruptions)."""
        self._emit(
            vad.VADEventType.INFERENCE_DONE,
            speech_duration=speech_duration,
            silence_duration=silence_duration,
            speaking=speaking,
            probability=1.0 if speaking else 0.0,
            raw_speech=speech_duration if speaking else 0.0,
            raw_silence=0.0 if speaking else silence_duration,
        )

    def end_of_speech(self, *, speech_duration: float, silence_duration: float = 0.0) -> None:
        """Report that the user stopped speaking `silence_duration` seconds ago."""
        self._emit(
            vad.VADEventType.END_OF_SPEECH,
            speech_duration=speech_duration,
            silence_duration=silence_duration,
            speaking=False,
        )

    def _emit(
        self,
        kind: vad.VADEventType,
        *,
        speech_duration: float = 0.0,
        silence_duration: float = 0.0,
        speaking: bool,
        probability: float = 0.0,
        raw_speech: float = 0.0,
        raw_silence: float = 0.0,
    ) -> None:
        for stream in self.open_streams:
            stream._send(
                vad.VADEvent(
                    type=kind,
                    samples_index=stream.samples_seen,
                    timestamp=time.time(),
                    speech_duration=speech_duration,
                    silence_duration=silence_duration,
                    probability=probability,
                    speaking=speaking,
                    raw_accumulated_speech=raw_speech,
                    raw_accumulated_silence=raw_silence,
                )
            )


class FakeVADStream(vad.VADStream):
    """Consumes pushed audio; emits only what `FakeVAD` sends it."""

    def __init__(self, fake_vad: FakeVAD) -> None:
        self.samples_seen = 0
        super().__init__(fake_vad)

    @property
    def closed(self) -> bool:
        return self._event_ch.closed or self._task.done()

    async def _main_task(self) -> None:
        async for item in self._input_ch:
            if not isinstance(item, vad.VADStream._FlushSentinel):
                self.samples_seen += item.samples_per_channel

    def _send(self, ev: vad.VADEvent) -> None:
        if not self._event_ch.closed:
            self._event_ch.send_nowait(ev)
