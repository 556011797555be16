"""Errors of the archival consumer and the `lkbus archive` commands: one root under `LkbusError`."""

from __future__ import annotations

from consumers.runtime.errors import ConsumerError
from lkbus.errors import LkbusError


class ArchivalError(LkbusError):
    """Root of every archival error; ``str()`` is one line that says what to do."""

    retriable: bool = False


class ArchiveStorageError(ArchivalError, ConsumerError):
    """The archive root could not be written: the partition stops archiving (commits held) until a restart."""


class ArchiveReadError(ArchivalError):
    """An archive file or folder could not be found or read."""


class ArchiveOptionError(ArchivalError):
    """An `lkbus archive` option is invalid."""


class RestoreError(ArchivalError):
    """Archived records could not be re-published."""
