"""Keep the Kafka client's repeated log lines from flooding the logs while Kafka is away.

aiokafka logs every failed connection, metadata refresh and fetch: tens of ERROR lines a second
during an outage. Each kind of client warning or error (logger and message template) goes
through once per interval and its repeats are counted. In the agent's process only the
publisher's thread is thinned, never an application's own Kafka clients; the consumer services
thin every thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

CLIENT_LOGGER = "aiokafka"


class RepeatedClientLines(logging.Filter):
    """Lets one warning or error per (logger, message template) through per `interval_s`, from the
    thread named `thread_name` (every thread when None); lower levels (asked for when debugging)
    all go through."""

    def __init__(
        self, thread_name: str | None, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.thread_name = thread_name
        self.interval_s = interval_s
        self.clock = clock
        self.suppressed = 0
        self._last: dict[tuple[str, object], float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True  # debug output asked for is the user's to have
        if self.thread_name is not None and record.threadName != self.thread_name:
            return True
        key = (record.name, record.msg)
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval_s:
                self.suppressed += 1
                return False
            self._last[key] = now
        return True


def client_loggers() -> list[logging.Logger]:
    """aiokafka's loggers (each module has its own; a logger's filters see only its own records)."""
    names = [
        name
        for name in logging.Logger.manager.loggerDict
        if name == CLIENT_LOGGER or name.startswith(CLIENT_LOGGER + ".")
    ]
    return [logging.getLogger(name) for name in sorted(set(names) | {CLIENT_LOGGER})]


def quiet_client_lines(thread_name: str | None, interval_s: float) -> Callable[[], None]:
    """Install the filter on aiokafka's loggers; returns the function that removes it."""
    if interval_s <= 0:
        return lambda: None
    lines = RepeatedClientLines(thread_name, interval_s)
    loggers = client_loggers()
    for client_logger in loggers:
        client_logger.addFilter(lines)

    def remove() -> None:
        for client_logger in loggers:
            client_logger.removeFilter(lines)

    return remove
