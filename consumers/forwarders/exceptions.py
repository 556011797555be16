"""Errors of the forwarders; each says whether the runtime should retry or dead-letter.

`ForwarderError` is the root. Delivery failures that may pass (5xx, 408, 429, timeouts, a
target cluster away) are `RetriableError`s: the runtime retries them with backoff and
dead-letters the record when they keep failing. Everything else is dead-lettered at once.
"""

from __future__ import annotations

from consumers.runtime.errors import ConsumerError, RetriableError
from lkbus.errors import SettingsError


class ForwarderError(ConsumerError):
    """Root of the forwarders' errors."""


class ForwarderSettingsError(ForwarderError, SettingsError):
    """The forwarder is not configured well enough to start (`lkbus` prints it in one line)."""


class FilterError(ForwarderError, ValueError):
    """A filter expression is malformed, too large, or names an unknown field."""


class EndpointRejectedError(ForwarderError):
    """The HTTP endpoint refused the event for good (a 4xx other than 408 and 429)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class EndpointUnavailableError(RetriableError, ForwarderError):
    """The HTTP endpoint failed in a way that may pass (5xx, 408, 429, timeout, connection)."""


class TransformError(ForwarderError):
    """The transform of the Kafka forwarder failed or returned something that is not a JSON object."""


class TargetUnavailableError(RetriableError, ForwarderError):
    """The target Kafka cluster did not take the record (yet)."""


class TargetRejectedError(ForwarderError):
    """The target Kafka cluster refused the record for good (too large, not authorised, ...)."""


class SignatureError(ForwarderError):
    """A webhook signature does not verify: malformed, too old, or not made with the secret."""
