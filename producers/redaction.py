"""Redaction of transcript and message text before anything leaves the process."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from lkbus.settings import PublisherSettings

TextTransform = Callable[[str], str | None]


def text_transform(settings: PublisherSettings) -> TextTransform | None:
    """None to keep text as it is; else a function that hashes (keyed) or drops it."""
    if settings.redact_text == "keep":
        return None
    if settings.redact_text == "drop":
        return _drop
    assert settings.redact_hash_key is not None  # enforced by PublisherSettings
    return keyed_hash(settings.redact_hash_key.get_secret_value().encode())


def keyed_hash(key: bytes) -> TextTransform:
    """HMAC-SHA256 of the text: equal texts stay comparable, the text itself is gone."""

    def transform(text: str) -> str:
        return "hmac-sha256:" + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    return transform


def _drop(_text: str) -> None:
    return None
