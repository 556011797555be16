"""Errors raised by the schemas package: one root, one subclass per failure kind."""

from __future__ import annotations

from enum import StrEnum


class SchemaError(Exception):
    """Root of every error raised by ``schemas``."""

    retriable: bool = False


class UnsupportedEvent(SchemaError):  # noqa: N818 - name fixed by the producer interface
    """An SDK object or event type name that has no schema."""


class DecodeReason(StrEnum):
    """Why a record could not be decoded."""

    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED_VERSION = "unsupported_version"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    HEADER_MISMATCH = "header_mismatch"
    INVALID_HEADER = "invalid_header"


class DecodeError(SchemaError):
    """A record that is not a valid event. ``reason`` says why, ``path`` where.

    Messages name the reason, the field path and the rule broken, never the
    offending value (it may be a transcript or an identity).
    """

    def __init__(self, reason: DecodeReason, detail: str, *, path: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.path = path
        where = f" at {path}" if path else ""
        super().__init__(f"{reason.value}{where}: {detail}")


class RegistryError(SchemaError):
    """An inconsistent registration of event types or versions."""


class EncodeError(SchemaError):
    """An event whose data cannot be written as JSON."""
