"""Events as CloudEvents 1.0 in structured JSON mode, for HTTP endpoints.

The attributes come from the envelope: `id` is the event id (receivers deduplicate on it),
`data` is the envelope's payload, and the session, sequence and agent travel as extension
attributes (lowercase letters and digits only, as the spec requires).
"""

from __future__ import annotations

from typing import Any

import orjson

from consumers.forwarders.fields import format_rfc3339
from schemas import Event

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"

EXTENSIONS: dict[str, str] = {
    "sessionid": "session_id",
    "seq": "seq",
    "agentname": "agent_name",
    "schemaversion": "schema_version",
    "jobid": "job_id",
    "roomname": "room_name",
    "roomsid": "room_sid",
}
"""Extension attribute → envelope field; absent (None) fields are left out.

The participant identity is not an attribute: it stays out of headers and routing metadata.
"""


def to_cloudevent(event: Event) -> dict[str, Any]:
    """The structured-mode JSON object of `event`."""
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": format_rfc3339(event.time),
        "datacontenttype": DATA_CONTENT_TYPE,
    }
    for attribute, field in EXTENSIONS.items():
        value = getattr(event, field)
        if value is not None:
            body[attribute] = value
    body["data"] = event.data.model_dump(mode="json")
    return body


def encode_cloudevent(event: Event) -> bytes:
    """The HTTP body (UTF-8 JSON) of `event` in structured mode."""
    return orjson.dumps(to_cloudevent(event))
