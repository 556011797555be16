"""The AsyncAPI 3 document of the topics and messages, generated from the registry."""

from __future__ import annotations

from typing import Any

from schemas.envelope import (
    CONTENT_TYPE,
    HEADER_CONTENT_TYPE,
    HEADER_ID,
    HEADER_SOURCE,
    HEADER_SPECVERSION,
    HEADER_TIME,
    HEADER_TYPE,
    SCHEMA_VERSION_HEADER,
    SPEC_VERSION,
    TopicFamily,
)
from schemas.exceptions import RegistryError
from schemas.registry import REGISTRY, Registry, VersionSpec

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"

DEFAULT_TOPICS: dict[TopicFamily, str] = {
    TopicFamily.SESSION: "lk.session.events",
    TopicFamily.USER_STATE: "lk.user.state",
    TopicFamily.ROOM: "lk.room.events",
    TopicFamily.COMMANDS: "lk.agent.commands",
    TopicFamily.ANALYTICS: "lk.analytics.sessions",
}
"""Topic names before the configurable prefix is applied."""

_CHANNEL_TEXT: dict[TopicFamily, str] = {
    TopicFamily.SESSION: "AgentSession events, lifecycle events and command outcomes.",
    TopicFamily.USER_STATE: "User state changes (speaking, listening, away), kept apart for fast consumers.",
    TopicFamily.ROOM: "rtc Room events that describe the session.",
    TopicFamily.COMMANDS: "Commands to running agent sessions; every worker reads from the end.",
    TopicFamily.ANALYTICS: "Session summaries.",
}
_AGENT_SENDS = (TopicFamily.SESSION, TopicFamily.USER_STATE, TopicFamily.ROOM)


def _headers_schema(vspec: VersionSpec) -> dict[str, Any]:
    string = {"type": "string"}
    return {
        "type": "object",
        "properties": {
            HEADER_SPECVERSION: {"const": SPEC_VERSION},
            HEADER_ID: {**string, "description": "Event id, a UUIDv7 (time-sortable)."},
            HEADER_TYPE: {"const": vspec.event_type},
            HEADER_SOURCE: string,
            HEADER_TIME: {**string, "format": "date-time"},
            HEADER_CONTENT_TYPE: {"const": CONTENT_TYPE},
            SCHEMA_VERSION_HEADER: {"const": str(vspec.version)},
        },
        "required": [
            HEADER_SPECVERSION,
            HEADER_ID,
            HEADER_TYPE,
            HEADER_SOURCE,
            HEADER_TIME,
            HEADER_CONTENT_TYPE,
            SCHEMA_VERSION_HEADER,
        ],
    }


def _add_schema(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    existing = schemas.get(name)
    if existing is not None and existing != schema:
        raise RegistryError(f"two different models are both named {name}")
    schemas[name] = schema


def asyncapi_document(registry: Registry = REGISTRY) -> dict[str, Any]:
    """The AsyncAPI 3 document: one channel per topic family, one message per event type."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    for spec in sorted(registry, key=lambda s: s.event_type):
        current = spec.current
        schema = current.event_class.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            _add_schema(schemas, name, sub)
        schema_name = current.event_class.__name__
        _add_schema(schemas, schema_name, schema)
        key = spec.event_type
        messages[key] = {
            "name": spec.event_type,
            "title": f"{spec.event_type} {current.version}",
            "summary": (current.model.__doc__ or "").strip().split("\n")[0] or spec.event_type,
            "contentType": CONTENT_TYPE,
            "headers": _headers_schema(current),
            "payload": {"$ref": f"#/components/schemas/{schema_name}"},
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": "The session id."},
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
        }
        family = spec.family.value
        channel = channels.setdefault(
            family,
            {
                "address": DEFAULT_TOPICS[spec.family],
                "description": _CHANNEL_TEXT[spec.family],
                "messages": {},
            },
        )
        channel["messages"][key] = {"$ref": f"#/components/messages/{key}"}
    operations: dict[str, Any] = {}
    for family in TopicFamily:
        if family.value not in channels:
            continue
        action = "send" if family in _AGENT_SENDS else "receive"
        operations[f"{action}_{family.value}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{family.value}"},
            "messages": [
                {"$ref": f"#/channels/{family.value}/messages/{key}"}
                for key in channels[family.value]["messages"]
            ],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "livekit-eventbus",
            "version": "1.0.0",
            "description": (
                "Every LiveKit agent session event on Kafka. Records are CloudEvents 1.0 in "
                "Kafka binary mode: ce_* headers, key = session id, value = the JSON envelope. "
                "Operations are seen from the agent worker. Topic names take a configurable prefix."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
