"""A streaming STT that transcribes what the scripted user says, not the audio."""

from __future__ import annotations

import asyncio
from typing import Literal

from livekit.agents import APIConnectOptions, LanguageCode, stt, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer

__all__ = ["FakeRecognizeStream", "FakeSTT"]


class FakeSTT(stt.STT[Literal["metrics_collected", "error"]]):
    """Streaming STT driven by the test.

    `transcribe(text)` pushes INTERIM_TRANSCRIPT events (growing prefixes of the
    text) then a FINAL_TRANSCRIPT and a RECOGNITION_USAGE to every open stream.
    Audio pushed into the streams is consumed and ignored.
    """

    def __init__(self, *, language: str = "en", interim_results: bool = True) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=interim_results))
        self._language = LanguageCode(language)
        self._streams: list[FakeRecognizeStream] = []
        self._stream_opened = asyncio.Event()

    @property
    def model(self) -> str:
        return "fake-stt"

    @property
    def provider(self) -> str:
        return "lkbus-sim"

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> FakeRecognizeStream:
        stream = FakeRecognizeStream(stt=self, conn_options=conn_options)
        self._streams.append(stream)
        self._stream_opened.set()
        return stream

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            alternatives=[stt.SpeechData(language=self._language, text="")],
        )

    @property
    def open_streams(self) -> list[FakeRecognizeStream]:
        """Streams that still accept events."""
        self._streams = [s for s in self._streams if not s.closed]
        return list(self._streams)

    async def wait_for_stream(self, timeout: float = 2.0) -> None:
        """Wait until the session has opened a stream."""
        while not self.open_streams:
            self._stream_opened.clear()
            await asyncio.wait_for(self._stream_opened.wait(), timeout)

    def interim(self, text: str) -> None:
        """Push one INTERIM_TRANSCRIPT."""
        self._send(stt.SpeechEventType.INTERIM_TRANSCRIPT, text)

    def final(self, text: str, *, confidence: float = 1.0) -> None:
        """Push one FINAL_TRANSCRIPT."""
        self._send(stt.SpeechEventType.FINAL_TRANSCRIPT, text, confidence=confidence)

    def usage(self, audio_duration: float) -> None:
        """Push a RECOGNITION_USAGE (the stream turns it into STT metrics)."""
        for stream in self.open_streams:
            stream._send(
                stt.SpeechEvent(
                    type=stt.SpeechEventType.RECOGNITION_USAGE,
                    request_id=stream.request_id,
                    recognition_usage=stt.RecognitionUsage(audio_duration=audio_duration),
                )
            )

    def transcribe(self, text: str, *, audio_duration: float = 0.0) -> None:
        """Interim transcripts for each growing prefix of `text`, then the final one."""
        if self.capabilities.interim_results:
            words = text.split()
            for n in range(1, len(words) + 1):
                self.interim(" ".join(words[:n]))
        self.final(text)
        if audio_duration > 0:
            self.usage(audio_duration)

    def _send(self, kind: stt.SpeechEventType, text: str, *, confidence: float = 1.0) -> None:
        for stream in self.open_streams:
            stream._send(
                stt.SpeechEvent(
                    type=kind,
                    request_id=stream.request_id,
                    alternatives=[stt.SpeechData(language=self._language, text=text, confidence=confidence)],
                )
            )


class FakeRecognizeStream(stt.RecognizeStream):
    """Consumes pushed audio; emits only what `FakeSTT` sends it."""

    def __init__(self, *, stt: FakeSTT, conn_options: APIConnectOptions) -> None:
        super().__init__(stt=stt, conn_options=conn_options)
        self.request_id = utils.shortuuid("fake_stt_")

    @property
    def closed(self) -> bool:
        return self._event_ch.closed or self._task.done()

    async def _run(self) -> None:
        async for _ in self._input_ch:
            pass

    def _send(self, ev: stt.SpeechEvent) -> None:
        if not self._event_ch.closed:
            self._event_ch.send_nowait(ev)
