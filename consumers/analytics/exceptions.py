"""Errors of the analytics consumer: one root under `LkbusError`, each marked retriable or not."""

from __future__ import annotations

from lkbus.errors import LkbusError


class AnalyticsError(LkbusError):
    """Root of every analytics error; ``str()`` is one line that says what to do."""

    retriable: bool = False


class SessionMismatchError(AnalyticsError):
    """An event of another session was given to a session's accumulator."""


class StoreError(AnalyticsError):
    """The analytics database could not be opened, read or written."""

    retriable = True


class StoreNotFoundError(StoreError):
    """No analytics database exists at the given path."""

    retriable = False


class StoreLockedError(StoreError):
    """Another process holds the analytics database open for writing."""


class ReportError(AnalyticsError):
    """A report or plot option is invalid, or the plot could not be written."""
