"""Settings of the archival consumer: the `archival` section of the settings (`LKBUS_ARCHIVAL__*`)."""

from __future__ import annotations

from lkbus.settings import ArchivalSettings, ArchiveFormat, Settings, load_settings

__all__ = ["ArchivalSettings", "ArchiveFormat", "archival_settings"]


def archival_settings(settings: Settings | None = None) -> ArchivalSettings:
    """The archival section of `settings`, or of the environment's settings."""
    return (settings or load_settings()).archival
