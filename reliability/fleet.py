"""The suite's side of an agent worker process: start it, follow its progress, kill it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from reliability.cluster import track, untrack
from reliability.worker import WorkerConfig


class WorkerError(Exception):
    """The worker process failed or did not finish in time."""


class WorkerProcess:
    """One `python -m reliability.worker` child."""

    def __init__(self, config: WorkerConfig, log: Path) -> None:
        self.config = config
        self.log = log
        self.progress: list[dict[str, Any]] = []
        self.final: dict[str, Any] | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        with open(self.log, "ab") as log:  # noqa: ASYNC230 - opening a log file, once per worker
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "reliability.worker",
                self.config.model_dump_json(),
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
            )
        track(self._process)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        async for line in self._process.stdout:
            with contextlib.suppress(orjson.JSONDecodeError):
                message = orjson.loads(line)
                if message.get("kind") == "final":
                    self.final = message
                else:
                    self.progress.append(message)

    @property
    def latest(self) -> dict[str, Any]:
        return self.progress[-1] if self.progress else {}

    async def wait_until(self, what: str, predicate: Any, timeout: float = 120) -> None:
        """Wait until `predicate(latest progress)` holds."""
        deadline = time.monotonic() + timeout
        while not (self.latest and predicate(self.latest)):
            if self.exited:
                raise WorkerError(f"the worker exited while waiting for {what}; see {self.log}")
            if time.monotonic() > deadline:
                raise WorkerError(f"timed out after {timeout:.0f} s waiting for {what}; see {self.log}")
            await asyncio.sleep(0.2)

    @property
    def exited(self) -> bool:
        return self._process is not None and self._process.returncode is not None

    async def finish(self, timeout: float) -> dict[str, Any]:
        """Wait for the worker's final report."""
        assert self._process is not None
        assert self._reader is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
            await asyncio.wait_for(self._process.wait(), 30)
        except TimeoutError:
            self.kill()
            raise WorkerError(f"the worker did not finish within {timeout:.0f} s; see {self.log}") from None
        finally:
            untrack(self._process)
        if self.final is None:
            raise WorkerError(
                f"the worker exited with code {self._process.returncode} without a report; see {self.log}"
            )
        return self.final

    def terminate(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, as a crash."""
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGKILL)

    async def wait_killed(self) -> None:
        assert self._process is not None
        await self._process.wait()
        untrack(self._process)
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)

    def stall_between(self, start_wall: float, end_wall: float) -> float:
        """Largest per-second stall reported in [start_wall, end_wall + 1 s]."""
        values = [p["stall_ms"] for p in self.progress if start_wall <= p["wall"] <= end_wall + 1.0]
        return max(values, default=0.0)

    def turns_between(self, start_wall: float, end_wall: float) -> int:
        inside = [p["turns"] for p in self.progress if start_wall <= p["wall"] <= end_wall]
        return inside[-1] - inside[0] if len(inside) >= 2 else 0
