"""A TTS that returns silence whose length follows the text."""

from __future__ import annotations

import asyncio
from typing import Literal

from livekit.agents import APIConnectOptions, APIError, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

__all__ = ["FakeTTS"]


class FakeTTS(tts.TTS[Literal["metrics_collected", "error"]]):
    """Non-streaming TTS producing `seconds_per_char * len(text)` of silence.

    The session wraps it in the SDK's `tts.StreamAdapter`, so each sentence is
    one `synthesize()` call. `delay` is waited before the first audio (it
    becomes the TTS metrics' ttfb). `fail_next()` makes the next call raise.
    """

    def __init__(
        self,
        *,
        seconds_per_char: float = 0.004,
        min_duration: float = 0.02,
        delay: float = 0.0,
        sample_rate: int = 16000,
    ) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=sample_rate,
            num_channels=1,
        )
        self.seconds_per_char = seconds_per_char
        self.min_duration = min_duration
        self.delay = delay
        self._errors: list[Exception] = []
        self._texts: list[str] = []

    @property
    def model(self) -> str:
        return "fake-tts"

    @property
    def provider(self) -> str:
        return "lkbus-sim"

    @property
    def texts(self) -> list[str]:
        """Every text synthesized so far, oldest first."""
        return list(self._texts)

    def duration_for(self, text: str) -> float:
        """Seconds of audio produced for `text`."""
        return max(self.min_duration, len(text) * self.seconds_per_char)

    def fail_next(self, error: Exception | None = None) -> None:
        """Make the next `synthesize()` raise (a non-retryable `APIError` by default)."""
        self._errors.append(error or APIError("fake tts failure", retryable=False))

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> FakeChunkedStream:
        self._texts.append(text)
        error = self._errors.pop(0) if self._errors else None
        return FakeChunkedStream(tts=self, input_text=text, conn_options=conn_options, error=error)


class FakeChunkedStream(tts.ChunkedStream):
    def __init__(
        self,
        *,
        tts: FakeTTS,
        input_text: str,
        conn_options: APIConnectOptions,
        error: Exception | None,
    ) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._fake_tts = tts
        self._error = error

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        fake = self._fake_tts
        if fake.delay > 0:
            await asyncio.sleep(fake.delay)
        if self._error is not None:
            raise self._error

        output_emitter.initialize(
            request_id=utils.shortuuid("fake_tts_"),
            sample_rate=fake.sample_rate,
            num_channels=fake.num_channels,
            mime_type="audio/pcm",
        )
        num_samples = int(fake.duration_for(self.input_text) * fake.sample_rate)
        output_emitter.push(b"\x00\x00" * num_samples * fake.num_channels)
        output_emitter.flush()
