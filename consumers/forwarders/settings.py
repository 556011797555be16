"""Settings of the forwarders: the `forward_http` and `forward_kafka` sections of `lkbus.settings.Settings`.

Their variables are `LKBUS_FORWARD_HTTP__*` and `LKBUS_FORWARD_KAFKA__*`. List settings take JSON
(`["a", "b"]`) or comma-separated text (`a,b`).
"""

from __future__ import annotations

from lkbus.settings import HttpForwarderSettings, KafkaForwarderSettings, Settings, TopicSettings

__all__ = [
    "HttpForwarderSettings",
    "KafkaForwarderSettings",
    "http_settings",
    "kafka_settings",
    "source_topics",
]


def http_settings(settings: Settings) -> HttpForwarderSettings:
    """The HTTP forwarder's section."""
    return settings.forward_http


def kafka_settings(settings: Settings) -> KafkaForwarderSettings:
    """The Kafka forwarder's section."""
    return settings.forward_kafka


def source_topics(
    section: HttpForwarderSettings | KafkaForwarderSettings, topics: TopicSettings
) -> list[str]:
    """The full names of the topics a forwarder reads."""
    if section.topics:
        return [topics.name(base) for base in section.topics]
    return list(topics.event_topics)
