"""Errors of `lkbus replay` and `lkbus sessions`: one root under `LkbusError`, one line each."""

from __future__ import annotations

from lkbus.errors import LkbusError


class ReplayError(LkbusError):
    """Root of the errors raised by `lkbus.replay`."""

    retriable: bool = False


class PositionError(ReplayError):
    """A `--from` / `--to` / `--since` value that is not a position."""


class ReplayOptionError(ReplayError):
    """Options that are each valid but do not go together, or a bad `--speed`."""


class ArchiveUnavailableError(ReplayError):
    """`--from-archive` was asked for, but no archive reader is installed yet."""


class RepublishError(ReplayError):
    """Records could not be re-published to the target topic."""

    retriable = True
