"""The wire contract of livekit-eventbus: envelope, versioned payloads, codec and schemas."""

from schemas.asyncapi import DEFAULT_TOPICS, asyncapi_document
from schemas.codec import (
    check_record,
    current_events,
    decode,
    encode_command,
    encode_event,
    encode_room_event,
    encode_session_event,
    format_time,
    is_current_event,
)
from schemas.compatibility import (
    POLICY,
    CompatibilityMode,
    Incompatibility,
    check_committed_schemas,
    check_compatibility,
)
from schemas.envelope import (
    SCHEMA_VERSION_HEADER,
    EncodedRecord,
    Event,
    SessionContext,
    TopicFamily,
)
from schemas.exceptions import (
    DecodeError,
    DecodeReason,
    EncodeError,
    RegistryError,
    SchemaError,
    UnsupportedEvent,
)
from schemas.export import SCHEMAS_ROOT, export_json_schemas, schema_drift
from schemas.ids import uuid7
from schemas.payloads.base import Payload
from schemas.payloads.commands_v1 import CloseSessionV1, CommandV1, PromptUserV1, SayV1
from schemas.registry import REGISTRY, EventSpec, Registry, SchemaVersion, VersionSpec
from schemas.sdk_mapping.exclusions import EXCLUDED_AGENT_EVENTS, EXCLUDED_ROOM_EVENTS

__all__ = [
    "DEFAULT_TOPICS",
    "EXCLUDED_AGENT_EVENTS",
    "EXCLUDED_ROOM_EVENTS",
    "POLICY",
    "REGISTRY",
    "SCHEMAS_ROOT",
    "SCHEMA_VERSION_HEADER",
    "CloseSessionV1",
    "CommandV1",
    "CompatibilityMode",
    "DecodeError",
    "DecodeReason",
    "EncodeError",
    "EncodedRecord",
    "Event",
    "EventSpec",
    "Incompatibility",
    "Payload",
    "PromptUserV1",
    "Registry",
    "RegistryError",
    "SayV1",
    "SchemaError",
    "SchemaVersion",
    "SessionContext",
    "TopicFamily",
    "UnsupportedEvent",
    "VersionSpec",
    "asyncapi_document",
    "check_committed_schemas",
    "check_compatibility",
    "check_record",
    "current_events",
    "decode",
    "encode_command",
    "encode_event",
    "encode_room_event",
    "encode_session_event",
    "export_json_schemas",
    "format_time",
    "is_current_event",
    "schema_drift",
    "uuid7",
]
