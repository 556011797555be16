"""Forwarders: selected events to an HTTP endpoint (signed CloudEvents) or to another Kafka topic.

`lkbus consume http-forwarder` / `lkbus consume kafka-forwarder`; settings
`LKBUS_FORWARD_HTTP__*` / `LKBUS_FORWARD_KAFKA__*` (see `consumers.forwarders.settings`).
Receivers verify requests with `verify_signature` (see `consumers.forwarders.signing`).
"""

from consumers.forwarders.cloudevent import STRUCTURED_CONTENT_TYPE, encode_cloudevent, to_cloudevent
from consumers.forwarders.exceptions import (
    EndpointRejectedError,
    EndpointUnavailableError,
    FilterError,
    ForwarderError,
    ForwarderSettingsError,
    SignatureError,
    TargetRejectedError,
    TargetUnavailableError,
    TransformError,
)
from consumers.forwarders.expression import FilterExpression, compile_filter
from consumers.forwarders.http import HttpForwarder
from consumers.forwarders.kafka import KafkaForwarder
from consumers.forwarders.selection import Selector
from consumers.forwarders.settings import (
    HttpForwarderSettings,
    KafkaForwarderSettings,
)
from consumers.forwarders.signing import SIGNATURE_HEADER, sign, verify_signature

__all__ = [
    "SIGNATURE_HEADER",
    "STRUCTURED_CONTENT_TYPE",
    "EndpointRejectedError",
    "EndpointUnavailableError",
    "FilterError",
    "FilterExpression",
    "ForwarderError",
    "ForwarderSettingsError",
    "HttpForwarder",
    "HttpForwarderSettings",
    "KafkaForwarder",
    "KafkaForwarderSettings",
    "Selector",
    "SignatureError",
    "TargetRejectedError",
    "TargetUnavailableError",
    "TransformError",
    "compile_filter",
    "encode_cloudevent",
    "sign",
    "to_cloudevent",
    "verify_signature",
]
