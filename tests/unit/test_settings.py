"""Settings: defaults, environment names, bad values named, secrets redacted."""

from __future__ import annotations

import pytest

from lkbus.errors import SettingsError
from lkbus.settings import load_settings, redacted_dump


def test_defaults_point_at_the_local_broker() -> None:
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.topics.event_topics == ("lk.session.events", "lk.user.state", "lk.room.events")


def test_nested_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LKBUS_KAFKA__BOOTSTRAP_SERVERS", "k1:9092, k2:9093")
    monkeypatch.setenv("LKBUS_TOPICS__PREFIX", "prod.")
    monkeypatch.setenv("LKBUS_BROKER__PORT", "19092")
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "k1:9092,k2:9093"
    assert settings.topics.name(settings.topics.commands) == "prod.lk.agent.commands"
    assert settings.broker.port == 19092


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        (
            "LKBUS_KAFKA__BOOTSTRAP_SERVERS",
            "no-port-here",
            "LKBUS_KAFKA__BOOTSTRAP_SERVERS: Value error, 'no-port-here' is not host:port",
        ),
        ("LKBUS_KAFKA__BOOTSTRAP_SERVERS", " , ", "must name at least one host:port"),
        ("LKBUS_BROKER__PORT", "ninety", "LKBUS_BROKER__PORT: Input should be a valid integer"),
        ("LKBUS_BROKER__PORT", "70000", "LKBUS_BROKER__PORT: Input should be less than or equal to 65535"),
        ("LKBUS_BROKER__HEAP", "lots", "LKBUS_BROKER__HEAP: String should match pattern"),
        ("LKBUS_KAFKA__SECURITY_PROTOCOL", "TLS", "LKBUS_KAFKA__SECURITY_PROTOCOL: Input should be"),
        (
            "LKBUS_TOPICS__PARTITIONS",
            "0",
            "LKBUS_TOPICS__PARTITIONS: Input should be greater than or equal to 1",
        ),
        (
            "LKBUS_KAFKA__BOOTSTRAP_SERVRS",
            "x:1",
            "LKBUS_KAFKA__BOOTSTRAP_SERVRS: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_values_are_named_by_their_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("invalid settings: ")
    assert expected in message
    assert "unset it to use the default" in message


def test_secrets_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LKBUS_KAFKA__SASL_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("LKBUS_KAFKA__SSL_KEYFILE_PASSWORD", "keypass-secret")
    settings = load_settings()
    dumped = str(redacted_dump(settings))
    assert "hunter2-secret" not in dumped
    assert "keypass-secret" not in dumped
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == "hunter2-secret"
