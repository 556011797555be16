"""The archival consumer: every record of the event topics into files, exactly once, and back.

`ArchivalConsumer` (`lkbus consume archival`) writes; `iter_archived` reads; `restore`
re-publishes; `archive_app` is the `lkbus archive` command group.
"""

from consumers.archival.exceptions import (
    ArchivalError,
    ArchiveOptionError,
    ArchiveReadError,
    ArchiveStorageError,
    RestoreError,
)
from consumers.archival.formats import ArchivedRecord
from consumers.archival.layout import ArchiveFile
from consumers.archival.reader import TopicSummary, archive_files, iter_archived, summarize
from consumers.archival.restore import RestoreStats, restore
from consumers.archival.service import ArchivalConsumer, prune
from consumers.archival.settings import ArchivalSettings, ArchiveFormat, archival_settings

__all__ = [
    "ArchivalConsumer",
    "ArchivalError",
    "ArchivalSettings",
    "ArchiveFile",
    "ArchiveFormat",
    "ArchiveOptionError",
    "ArchiveReadError",
    "ArchiveStorageError",
    "ArchivedRecord",
    "RestoreError",
    "RestoreStats",
    "TopicSummary",
    "archival_settings",
    "archive_files",
    "iter_archived",
    "prune",
    "restore",
    "summarize",
]
