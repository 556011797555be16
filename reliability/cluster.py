"""The suite's own Kafka broker (a LocalBroker on free ports, data in a temporary folder) and the
child processes it starts, all stopped on exit, Ctrl-C included."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from lkbus.broker import LocalBroker
from lkbus.broker.ephemeral import free_port
from lkbus.settings import BrokerSettings, KafkaSettings, TopicSettings
from lkbus.topics import create_topics, project_topics

_CHILDREN: dict[int, subprocess.Popen[bytes] | asyncio.subprocess.Process] = {}


def track(process: subprocess.Popen[bytes] | asyncio.subprocess.Process) -> None:
    """Remember a child process, so that `kill_children` ends it whatever happens."""
    _CHILDREN[process.pid] = process


def untrack(process: subprocess.Popen[bytes] | asyncio.subprocess.Process) -> None:
    _CHILDREN.pop(process.pid, None)


def kill_children() -> None:
    """SIGKILL every tracked child that still runs, by its pid, and reap it."""
    for pid, process in list(_CHILDREN.items()):
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if isinstance(process, subprocess.Popen):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
        else:
            _reap(pid)
        _CHILDREN.pop(pid, None)


def _reap(pid: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.05)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


class Cluster:
    """One broker for the whole run; scenarios stop it, kill it and start it again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.broker = LocalBroker(
            BrokerSettings(
                data_dir=folder / "broker",
                port=free_port(),
                controller_port=free_port(),
                jars_dir=Path(os.environ.get("LKBUS_BROKER__JARS_DIR", ".lkbus/kafka-jars")).resolve(),
                heap="768m",
            )
        )
        self.kafka = KafkaSettings(bootstrap_servers=self.broker.bootstrap, client_id="lkbus-reliability")

    async def start(self) -> None:
        await self.broker.start()

    def stop(self) -> None:
        """A clean stop (SIGTERM, waited for)."""
        self.broker.stop()

    def kill(self) -> None:
        """SIGKILL the broker process (no clean shutdown) and wait until it is gone."""
        pid = self.broker.status().pid
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        # The JVM's main thread turns zombie before its other threads have exited and closed the
        # listening sockets: wait until the ports are free, not only until the pid looks dead.
        deadline = time.monotonic() + 60
        ports = (self.broker.settings.port, self.broker.settings.controller_port)
        while time.monotonic() < deadline and (
            self.broker.status().running or not all(_port_free(self.broker.settings.host, p) for p in ports)
        ):
            time.sleep(0.05)
        self.broker.stop()  # reaps the process object and removes the stale pid file

    @property
    def running(self) -> bool:
        return self.broker.status().running

    async def topics(self, name: str, partitions: int = 6) -> TopicSettings:
        """Fresh topics for one scenario."""
        topics = TopicSettings(prefix=f"rel.{name}.{uuid.uuid4().hex[:6]}.", partitions=partitions)
        await create_topics(self.kafka, project_topics(topics))
        return topics
