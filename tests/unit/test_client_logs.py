"""The Kafka client's repeated warnings and errors go through once per interval."""

from __future__ import annotations

import importlib
import logging
import threading

import pytest

from lkbus.client_logs import RepeatedClientLines, client_loggers, quiet_client_lines


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def line(
    msg: str, *, logger: str = "aiokafka", thread: str = "lkbus-publisher", args: tuple[object, ...] = ()
) -> logging.LogRecord:
    record = logging.LogRecord(logger, logging.ERROR, __file__, 1, msg, args, None)
    record.threadName = thread
    return record


def test_each_kind_of_line_goes_through_once_per_interval() -> None:
    clock = FakeClock()
    lines = RepeatedClientLines("lkbus-publisher", 60, clock)
    unable = "Unable connect to node with id %s: %s"
    assert lines.filter(line(unable, args=(1, "refused")))
    assert not lines.filter(line(unable, args=(1, "refused")))
    assert not lines.filter(line(unable, args=(2, "timed out"))), "same template, other arguments"
    assert lines.filter(line("Unable to update metadata from %s", args=([1],))), "another kind"
    assert lines.filter(line(unable, logger="aiokafka.conn")), "the same text from another logger"
    clock.now = 59.9
    assert not lines.filter(line(unable, args=(1, "refused")))
    clock.now = 60.0
    assert lines.filter(line(unable, args=(1, "refused")))
    assert lines.suppressed == 3


def test_debug_lines_all_go_through() -> None:
    lines = RepeatedClientLines("lkbus-publisher", 60, FakeClock())
    for _ in range(3):
        record = line("Sending request %s", args=("MetadataRequest",))
        record.levelno = logging.DEBUG
        assert lines.filter(record)
    assert lines.suppressed == 0


def test_other_threads_are_never_touched() -> None:
    lines = RepeatedClientLines("lkbus-publisher", 60, FakeClock())
    for _ in range(3):
        assert lines.filter(line("Unable connect to node", thread="MainThread"))
    assert lines.suppressed == 0


def test_installed_on_every_client_logger_and_removed(caplog: pytest.LogCaptureFixture) -> None:
    for module in ("aiokafka.consumer.fetcher", "aiokafka.producer.sender"):
        importlib.import_module(module)  # each has its module logger
    names = {logger.name for logger in client_loggers()}
    assert {"aiokafka", "aiokafka.consumer.fetcher", "aiokafka.producer.sender"} <= names

    def log_twice() -> None:
        for name in ("aiokafka", "aiokafka.producer.sender"):
            for _ in range(2):
                logging.getLogger(name).warning("Got error produce response: %s", "NodeNotReadyError")

    caplog.set_level(logging.WARNING)
    remove = quiet_client_lines("quieted", 60)
    try:
        quieted = threading.Thread(target=log_twice, name="quieted")
        quieted.start()
        quieted.join()
    finally:
        remove()
    assert [r.name for r in caplog.records] == ["aiokafka", "aiokafka.producer.sender"]
    caplog.clear()
    after = threading.Thread(target=log_twice, name="quieted")
    after.start()
    after.join()
    assert len(caplog.records) == 4, "removed: every line goes through again"


def test_every_thread_when_no_thread_is_named() -> None:
    lines = RepeatedClientLines(None, 60, FakeClock())
    assert lines.filter(line("Unable connect to node", thread="MainThread"))
    assert not lines.filter(line("Unable connect to node", thread="another"))
    assert lines.suppressed == 1


def test_zero_lets_every_line_through(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    remove = quiet_client_lines(threading.current_thread().name, 0)
    try:
        for _ in range(3):
            logging.getLogger("aiokafka").warning("Unable to update metadata from %s", [1])
    finally:
        remove()
    assert len(caplog.records) == 3
