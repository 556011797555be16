"""Forwarder settings from the environment: lists, secrets, and one clear error per bad value."""

from __future__ import annotations

import os

import pytest

from consumers.forwarders import HttpForwarderSettings, KafkaForwarderSettings
from lkbus.errors import SettingsError
from lkbus.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("LKBUS_"):
            monkeypatch.delenv(key)


def test_defaults_need_nothing() -> None:
    settings = load_settings()
    assert settings.forward_http == HttpForwarderSettings()
    assert settings.forward_kafka == KafkaForwarderSettings()


@pytest.mark.parametrize("raw", ["close, livekit.room.*", '["close", "livekit.room.*"]'])
def test_lists_take_commas_or_json(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("LKBUS_FORWARD_HTTP__TYPES", raw)
    assert load_settings().forward_http.types == ("close", "livekit.room.*")


def test_secrets_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LKBUS_FORWARD_HTTP__SECRET", "s3cret-value-0123456789")
    monkeypatch.setenv("LKBUS_FORWARD_HTTP__HEADERS", '{"Authorization": "Bearer hidden-token"}')
    settings = load_settings()
    shown = repr(settings) + str(settings.model_dump(mode="json"))
    assert "s3cret-value" not in shown
    assert "hidden-token" not in shown


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("LKBUS_FORWARD_HTTP__FILTER", "__import__('os')", "LKBUS_FORWARD_HTTP__FILTER"),
        ("LKBUS_FORWARD_HTTP__FILTER", "type ==", "column"),
        ("LKBUS_FORWARD_HTTP__URL", "ftp://example.com/x", "http"),
        ("LKBUS_FORWARD_HTTP__URL", "not a url", "LKBUS_FORWARD_HTTP__URL"),
        ("LKBUS_FORWARD_HTTP__SECRET", "short", "16 characters"),
        ("LKBUS_FORWARD_HTTP__TIMEOUT_S", "0", "LKBUS_FORWARD_HTTP__TIMEOUT_S"),
        ("LKBUS_FORWARD_HTTP__TYPES", "[not json", "LKBUS_FORWARD_HTTP__TYPES"),
        ("LKBUS_FORWARD_KAFKA__FIELDS", "type,__class__", "LKBUS_FORWARD_KAFKA__FIELDS"),
        ("LKBUS_FORWARD_KAFKA__TRANSFORM", "no colon", "LKBUS_FORWARD_KAFKA__TRANSFORM"),
        ("LKBUS_FORWARD_KAFKA__TARGET__BOOTSTRAP_SERVERS", "nohost", "LKBUS_FORWARD_KAFKA__TARGET"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, complaint: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert complaint in message
    assert "\n" not in message


def test_transform_and_fields_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="either transform or fields"):
        KafkaForwarderSettings(transform="a:b", fields=("type",))
