"""Version 1 payloads of the rtc Room events (livekit rtc 1.1.x).

SDK enums travel as lower-case names without their prefix (``client_initiated``,
``sip``, ``excellent``); a value unknown to this version travels as ``unknown_<n>``.
"""

from __future__ import annotations

from pydantic import Field

from schemas.payloads.base import Payload, WireModel


class ParticipantRefV1(WireModel):
    """Who a room event is about."""

    sid: str
    identity: str
    kind: str


class ParticipantInfoV1(WireModel):
    """A participant as known when it joined, became active or left."""

    sid: str
    identity: str
    name: str
    kind: str
    kind_details: list[str] = Field(default_factory=list)
    state: str
    metadata: str
    attributes: dict[str, str] = Field(default_factory=dict)
    joined_at: float | None = None
    """Epoch seconds."""


class PermissionsV1(WireModel):
    can_subscribe: bool
    can_publish: bool
    can_publish_data: bool
    can_publish_sources: list[str]
    hidden: bool
    can_update_metadata: bool
    can_subscribe_metrics: bool
    can_manage_agent_session: bool


class TrackPublicationV1(WireModel):
    sid: str
    name: str
    kind: str
    source: str
    mime_type: str
    muted: bool
    simulcasted: bool
    width: int
    height: int
    encryption_type: str


class RoomInfoV1(WireModel):
    """The room as read after ``room_updated`` / ``moved`` (its sid is in the envelope)."""

    name: str
    metadata: str
    num_participants: int
    num_publishers: int
    active_recording: bool
    creation_time: float
    """Epoch seconds."""
    empty_timeout: float
    departure_timeout: float


class TranscriptionSegmentV1(WireModel):
    id: str
    text: str | None
    """None when redacted."""
    start_time: int
    end_time: int
    language: str
    final: bool


class ParticipantConnectedV1(Payload):
    participant: ParticipantInfoV1


class ParticipantDisconnectedV1(Payload):
    participant: ParticipantInfoV1
    reason: str | None
    """Disconnect reason, None when the SDK reports none."""


class ParticipantActiveV1(Payload):
    participant: ParticipantInfoV1


class ParticipantMetadataChangedV1(Payload):
    participant: ParticipantRefV1
    old_metadata: str
    new_metadata: str


class ParticipantNameChangedV1(Payload):
    participant: ParticipantRefV1
    old_name: str
    new_name: str


class ParticipantAttributesChangedV1(Payload):
    participant: ParticipantRefV1
    changed_attributes: dict[str, str]


class ParticipantPermissionsChangedV1(Payload):
    participant: ParticipantRefV1
    permissions: PermissionsV1


class ConnectionQualityChangedV1(Payload):
    participant: ParticipantRefV1 | None
    quality: str


class ActiveSpeakersChangedV1(Payload):
    speakers: list[ParticipantRefV1]


class RoomMetadataChangedV1(Payload):
    old_metadata: str
    new_metadata: str


class RoomUpdatedV1(Payload):
    room: RoomInfoV1 | None = None


class MovedV1(Payload):
    room: RoomInfoV1 | None = None


class DataReceivedV1(Payload):
    """A data packet; the bytes travel (base64) only when the producer enables it."""

    topic: str | None
    kind: str
    size: int
    participant: ParticipantRefV1 | None
    data_base64: str | None = None


class SipDtmfReceivedV1(Payload):
    code: int
    digit: str
    participant: ParticipantRefV1 | None


class SipDtmfReceivedV1_1(Payload):  # noqa: N801 - version 1.1 of the model above
    """A key pressed on a phone. ``code`` and ``digit`` are None when text is redacted: the digits
    a caller types are often a PIN or an account number."""

    code: int | None
    digit: str | None
    participant: ParticipantRefV1 | None


class TranscriptionReceivedV1(Payload):
    segments: list[TranscriptionSegmentV1]
    participant: ParticipantRefV1 | None
    track_sid: str | None


class TrackPublishedV1(Payload):
    publication: TrackPublicationV1
    participant: ParticipantRefV1


class TrackUnpublishedV1(Payload):
    publication: TrackPublicationV1
    participant: ParticipantRefV1


class TrackSubscribedV1(Payload):
    track_sid: str | None
    publication: TrackPublicationV1
    participant: ParticipantRefV1


class TrackUnsubscribedV1(Payload):
    track_sid: str | None
    publication: TrackPublicationV1
    participant: ParticipantRefV1


class TrackMutedV1(Payload):
    participant: ParticipantRefV1
    publication: TrackPublicationV1


class TrackUnmutedV1(Payload):
    participant: ParticipantRefV1
    publication: TrackPublicationV1


class TrackSubscriptionFailedV1(Payload):
    participant: ParticipantRefV1
    track_sid: str
    error: str


class ConnectionStateChangedV1(Payload):
    state: str


class ReconnectingV1(Payload):
    pass


class ReconnectedV1(Payload):
    pass


class DisconnectedV1(Payload):
    reason: str


EVENTS: dict[str, type[Payload]] = {
    "livekit.room.participant_connected": ParticipantConnectedV1,
    "livekit.room.participant_disconnected": ParticipantDisconnectedV1,
    "livekit.room.participant_active": ParticipantActiveV1,
    "livekit.room.participant_metadata_changed": ParticipantMetadataChangedV1,
    "livekit.room.participant_name_changed": ParticipantNameChangedV1,
    "livekit.room.participant_attributes_changed": ParticipantAttributesChangedV1,
    "livekit.room.participant_permissions_changed": ParticipantPermissionsChangedV1,
    "livekit.room.connection_quality_changed": ConnectionQualityChangedV1,
    "livekit.room.active_speakers_changed": ActiveSpeakersChangedV1,
    "livekit.room.room_metadata_changed": RoomMetadataChangedV1,
    "livekit.room.room_updated": RoomUpdatedV1,
    "livekit.room.moved": MovedV1,
    "livekit.room.data_received": DataReceivedV1,
    "livekit.room.sip_dtmf_received": SipDtmfReceivedV1,
    "livekit.room.transcription_received": TranscriptionReceivedV1,
    "livekit.room.track_published": TrackPublishedV1,
    "livekit.room.track_unpublished": TrackUnpublishedV1,
    "livekit.room.track_subscribed": TrackSubscribedV1,
    "livekit.room.track_unsubscribed": TrackUnsubscribedV1,
    "livekit.room.track_muted": TrackMutedV1,
    "livekit.room.track_unmuted": TrackUnmutedV1,
    "livekit.room.track_subscription_failed": TrackSubscriptionFailedV1,
    "livekit.room.connection_state_changed": ConnectionStateChangedV1,
    "livekit.room.reconnecting": ReconnectingV1,
    "livekit.room.reconnected": ReconnectedV1,
    "livekit.room.disconnected": DisconnectedV1,
}
"""Event type name to its version 1 payload model."""

LATER_VERSIONS: list[tuple[str, str, type[Payload]]] = [
    ("livekit.room.sip_dtmf_received", "1.1", SipDtmfReceivedV1_1),
]
"""(type, version, model) of the versions published after 1.0, in order; each one's
current model is the last."""
