"""Base classes shared by every wire model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """A JSON object on the wire.

    Unknown fields are ignored when reading (a newer minor version may add some);
    the published JSON Schema is a closed content model so that adding an optional
    field stays BACKWARD compatible under Schema Registry rules.
    """

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        json_schema_extra={"additionalProperties": False},
    )


class Payload(WireModel):
    """The ``data`` of one event type at one schema version."""
