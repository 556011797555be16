"""The example environments in examples/ load, and select what their comments say."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from dotenv import dotenv_values

from consumers.forwarders import HttpForwarder, KafkaForwarder, Selector
from lkbus.settings import load_settings
from tests.unit.consumers.forwarders.samples import ended, started

EXAMPLES = Path(__file__).resolve().parents[4] / "examples"


def use_env(monkeypatch: pytest.MonkeyPatch, name: str) -> dict[str, str]:
    for key in list(os.environ):
        if key.startswith("LKBUS_"):
            monkeypatch.delenv(key)
    values = {k: v for k, v in dotenv_values(EXAMPLES / name).items() if v is not None}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.mark.parametrize("name", ["forwarder.env", "kafka-forwarder.env"])
def test_a_shell_reads_the_file_as_dotenv_does(name: str) -> None:
    """`set -a; . file` (the documented way) gives the same values as compose's env_file parser."""
    expected = {k: v for k, v in dotenv_values(EXAMPLES / name).items() if v is not None}
    script = f"set -a; . '{EXAMPLES / name}'; env -0"
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True, env={}).stdout.decode()
    seen = dict(item.split("=", 1) for item in out.split("\0") if item.startswith("LKBUS_"))
    assert seen == expected


def test_the_http_example_loads_and_selects(monkeypatch: pytest.MonkeyPatch) -> None:
    values = use_env(monkeypatch, "forwarder.env")
    settings = load_settings()
    http = load_settings().forward_http
    assert http.url == "https://hooks.example.com/livekit/events"
    assert http.secret is not None
    assert http.secret.get_secret_value() == values["LKBUS_FORWARD_HTTP__SECRET"]
    assert "replace-me" not in repr(http)
    assert "replace-me" not in str(http.model_dump(mode="json"))
    assert http.headers["Authorization"].get_secret_value() == "Bearer replace-me"
    assert http.max_attempts == 5
    assert HttpForwarder().subscriptions(settings) == list(settings.topics.event_topics)

    select = Selector.of(http.types, http.agents, http.filter)
    assert select(ended(agent_name="sales"))
    assert select(started(agent_name="support-us"))
    assert not select(ended(agent_name="marketing"))


def test_the_kafka_example_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, "kafka-forwarder.env")
    settings = load_settings()
    kafka = load_settings().forward_kafka
    assert kafka.topic == "analytics.livekit.sessions"
    assert kafka.target is not None
    assert kafka.target.bootstrap_servers == "analytics-kafka-1:9092,analytics-kafka-2:9092"
    assert kafka.fields[-1] == "data.duration"
    assert KafkaForwarder().subscriptions(settings) == [settings.topics.name("lk.session.events")]
    select = Selector.of(kafka.types, kafka.agents, kafka.filter)
    assert select(ended())
    assert not select(ended(agent_name="internal-test"))
