"""An agent worker process: many REAL text-only AgentSessions (fake LLM) and one EventPublisher.

Run by the suite as `python -m reliability.worker '<WorkerConfig JSON>'`. It prints one JSON line
a second (`progress`) and one at the end (`final`: every session's last seq, the publisher's
counters, CPU and agent-loop stalls). SIGTERM ends the conversations early, cleanly.

Two kinds of session:
- chatty: a user turn every `turn_interval_s` (± 50 %) until `duration_s`, then close;
- goes away: two turns, then silence (`user_away_timeout`), until the inactivity consumer's
  commands close the session (or `close_wait_s` passes and the session closes itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from lkbus.settings import KafkaSettings, PublisherSettings, TopicSettings
from lkbus.sim import FakeLLM, SimulatedSession
from producers import EventPublisher, SessionPublication

REPLY = "Sure. Here is a short answer to that, and one more sentence to make it realistic."
TICK_S = 0.010


class WorkerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap: str
    prefix: str
    partitions: int = 6
    journal_dir: str
    journal_max_bytes: int = 1 << 30
    send_timeout_s: float = 2.0
    flush_timeout_s: float = 10.0
    session_prefix: str = "s"
    chatty: int = 10
    goes_away: int = 0
    duration_s: float = 30.0
    turn_interval_s: float = 3.0
    away_timeout_s: float = 1.0
    close_wait_s: float = 60.0
    commands: bool = False
    drain_timeout_s: float = 180.0
    seed: int = 1
    publish: bool = True
    """False: the same sessions with no publisher attached (the stall baseline)."""


class StallMeter:
    """Lateness of a 10 ms ticker on the agents' loop: overall, per second, and a histogram."""

    def __init__(self) -> None:
        self.largest = 0.0
        self.window = 0.0
        self.ticks = 0
        self.samples: list[float] = []

    async def run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            late = max(0.0, time.perf_counter() - before - TICK_S)
            self.ticks += 1
            self.samples.append(late)
            self.largest = max(self.largest, late)
            self.window = max(self.window, late)

    def take_window(self) -> float:
        value, self.window = self.window, 0.0
        return value

    def p99(self) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]


def _emit(kind: str, **fields: Any) -> None:
    sys.stdout.write(orjson.dumps({"kind": kind, "wall": time.time(), **fields}).decode() + "\n")
    sys.stdout.flush()


def _thread_cpu(name: str) -> float | None:
    for thread in threading.enumerate():
        if thread.name == name and thread.ident is not None:
            with contextlib.suppress(OSError, AttributeError):
                return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return None


class Worker:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.stop = asyncio.Event()
        self.publications: dict[str, SessionPublication] = {}
        self.turns = 0
        self.turn_errors = 0
        self.closed_by_inactivity: list[str] = []
        self.not_closed: list[str] = []
        self.open_sessions = 0
        self.meter = StallMeter()
        kafka = KafkaSettings(bootstrap_servers=config.bootstrap, client_id="lkbus-reliability-worker")
        topics = TopicSettings(prefix=config.prefix, partitions=config.partitions)
        self.publisher = EventPublisher(
            kafka,
            topics,
            PublisherSettings(
                journal_dir=Path(config.journal_dir),
                journal_max_bytes=config.journal_max_bytes,
                send_timeout_s=config.send_timeout_s,
                flush_timeout_s=config.flush_timeout_s,
                commands=config.commands,
            ),
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop.set)
        ticker = loop.create_task(self.meter.run())
        reporter = loop.create_task(self._report_forever())
        started = time.monotonic()
        cpu0 = time.process_time()
        if self.config.publish:
            await self.publisher.start()
        if self.config.commands:
            with contextlib.suppress(TimeoutError):
                await self.publisher.commands_ready(60)
        c = self.config
        tasks = [self._chatty(f"{c.session_prefix}-c{i:04d}") for i in range(c.chatty)]
        tasks += [self._goes_away(f"{c.session_prefix}-a{i:04d}") for i in range(c.goes_away)]
        await asyncio.gather(*tasks)
        conversations_s = time.monotonic() - started
        drained = await self._drain() if c.publish else True
        publisher_cpu = _thread_cpu("lkbus-publisher")
        if c.publish:
            await self.publisher.stop()
        reporter.cancel()
        ticker.cancel()
        stats = self.publisher.stats()
        _emit(
            "final",
            seqs={sid: p.seq for sid, p in self.publications.items()},
            stats=_stats(stats),
            drained=drained,
            turns=self.turns,
            turn_errors=self.turn_errors,
            closed_by_inactivity=self.closed_by_inactivity,
            not_closed=self.not_closed,
            stall_max_ms=self.meter.largest * 1000,
            stall_p99_ms=self.meter.p99() * 1000,
            ticks=self.meter.ticks,
            cpu_process_s=time.process_time() - cpu0,
            cpu_publisher_s=publisher_cpu,
            conversations_s=conversations_s,
            wall_s=time.monotonic() - started,
        )

    async def _drain(self) -> bool:
        """Wait until everything is in Kafka (the journal too), up to `drain_timeout_s`."""
        deadline = time.monotonic() + self.config.drain_timeout_s
        while time.monotonic() < deadline:
            s = self.publisher.stats()
            if s.kafka_available and s.buffered == 0 and s.journal_bytes == 0:
                return await self.publisher.flush(10)
            await asyncio.sleep(0.2)
        return False

    async def _report_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            _emit(
                "progress",
                stats=_stats(self.publisher.stats()),
                events=sum(p.seq for p in self.publications.values()),
                turns=self.turns,
                open=self.open_sessions,
                stall_ms=self.meter.take_window() * 1000,
                cpu_publisher_s=_thread_cpu("lkbus-publisher"),
                cpu_process_s=time.process_time(),
            )

    def _session(self, sid: str, away: float | None) -> SimulatedSession:
        sim = SimulatedSession(text_only=True, user_away_timeout=away, llm=FakeLLM(default_reply=REPLY))
        if self.config.publish:
            self.publications[sid] = self.publisher.attach(
                sim.session, session_id=sid, agent_name="reliability"
            )
        return sim

    async def _turn(self, sim: SimulatedSession, n: int) -> None:
        try:
            await asyncio.wait_for(sim.user_types(f"question number {n}, please answer briefly"), 30)
            self.turns += 1
        except Exception:  # noqa: BLE001 - a failed turn is counted; the run goes on
            self.turn_errors += 1

    async def _chatty(self, sid: str) -> None:
        c = self.config
        await asyncio.sleep(self.rng.uniform(0, c.turn_interval_s))
        deadline = time.monotonic() + c.duration_s
        sim = self._session(sid, None)
        await sim.start()
        self.open_sessions += 1
        try:
            n = 0
            while time.monotonic() < deadline and not self.stop.is_set():
                await self._turn(sim, n)
                n += 1
                pause = c.turn_interval_s * self.rng.uniform(0.5, 1.5)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), pause)
        finally:
            await sim.close()
            self.open_sessions -= 1

    async def _goes_away(self, sid: str) -> None:
        c = self.config
        await asyncio.sleep(self.rng.uniform(0, min(c.duration_s / 2, 10)))
        sim = self._session(sid, c.away_timeout_s)
        closed = asyncio.Event()
        sim.session.on("close", lambda _ev: closed.set())
        await sim.start()
        self.open_sessions += 1
        try:
            for n in range(2):
                await self._turn(sim, n)
            deadline = time.monotonic() + c.close_wait_s
            while not closed.is_set() and time.monotonic() < deadline and not self.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closed.wait(), 0.5)
            (self.closed_by_inactivity if closed.is_set() else self.not_closed).append(sid)
        finally:
            await sim.close()
            self.open_sessions -= 1


def _stats(stats: Any) -> dict[str, Any]:
    return {
        "produced": stats.produced,
        "spilled": stats.spilled,
        "resent": stats.resent,
        "dropped": stats.dropped,
        "send_errors": stats.send_errors,
        "buffered": stats.buffered,
        "journal_bytes": stats.journal_bytes,
        "kafka_available": stats.kafka_available,
    }


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = WorkerConfig.model_validate_json(sys.argv[1])
    # A livekit-agents job process starts with its preloaded heap frozen
    # (livekit.agents.ipc._preload_freeze), so full collections skip the SDK's objects.
    gc.collect()
    gc.freeze()
    asyncio.run(Worker(config).run())


if __name__ == "__main__":
    main()
