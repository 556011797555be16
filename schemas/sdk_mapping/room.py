"""rtc Room event callback arguments (livekit rtc 1.1.x) to version 1 wire dicts."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from livekit import rtc
from livekit.rtc._proto import e2ee_pb2, participant_pb2, room_pb2, track_pb2

from schemas.exceptions import UnsupportedEvent
from schemas.sdk_mapping.common import TextTransform, enum_name, enum_names
from schemas.sdk_mapping.exclusions import EXCLUDED_ROOM_EVENTS

ROOM_PREFIX = "livekit.room."


_DISCONNECT = enum_names(participant_pb2.DisconnectReason.items(), "")
_KIND = enum_names(participant_pb2.ParticipantKind.items(), "PARTICIPANT_KIND_")
_KIND_DETAIL = enum_names(participant_pb2.ParticipantKindDetail.items(), "PARTICIPANT_KIND_DETAIL_")
_STATE = enum_names(participant_pb2.ParticipantState.items(), "PARTICIPANT_STATE_")
_CONN_STATE = enum_names(room_pb2.ConnectionState.items(), "CONN_")
_DATA_KIND = enum_names(room_pb2.DataPacketKind.items(), "KIND_")
_TRACK_KIND = enum_names(track_pb2.TrackKind.items(), "KIND_")
_TRACK_SOURCE = enum_names(track_pb2.TrackSource.items(), "SOURCE_")
_ENCRYPTION = enum_names(e2ee_pb2.EncryptionType.items(), "")
_QUALITY = {q.value: q.name.removeprefix("QUALITY_").lower() for q in rtc.ConnectionQuality}


def participant_ref(p: rtc.Participant) -> dict[str, Any]:
    return {"sid": p.sid, "identity": p.identity, "kind": enum_name(_KIND, p.kind)}


def _opt_ref(p: rtc.Participant | None) -> dict[str, Any] | None:
    return None if p is None else participant_ref(p)


def participant_info(p: rtc.Participant) -> dict[str, Any]:
    joined = p.joined_at
    return {
        "sid": p.sid,
        "identity": p.identity,
        "name": p.name,
        "kind": enum_name(_KIND, p.kind),
        "kind_details": [enum_name(_KIND_DETAIL, k) for k in p.kind_details],
        "state": enum_name(_STATE, p.state),
        "metadata": p.metadata,
        "attributes": p.attributes,
        "joined_at": None if joined is None else joined.timestamp(),
    }


def publication(pub: rtc.TrackPublication) -> dict[str, Any]:
    return {
        "sid": pub.sid,
        "name": pub.name,
        "kind": enum_name(_TRACK_KIND, pub.kind),
        "source": enum_name(_TRACK_SOURCE, pub.source),
        "mime_type": pub.mime_type,
        "muted": pub.muted,
        "simulcasted": pub.simulcasted,
        "width": pub.width,
        "height": pub.height,
        "encryption_type": enum_name(_ENCRYPTION, pub.encryption_type),
    }


def room_info(room: rtc.Room) -> dict[str, Any]:
    return {
        "name": room.name,
        "metadata": room.metadata,
        "num_participants": room.num_participants,
        "num_publishers": room.num_publishers,
        "active_recording": room.is_recording,
        "creation_time": room.creation_time.timestamp(),
        "empty_timeout": room.empty_timeout,
        "departure_timeout": room.departure_timeout,
    }


class RoomArgs:
    """What a room mapper gets besides the callback's arguments."""

    __slots__ = ("include_data_bytes", "room", "text_transform")

    def __init__(
        self, include_data_bytes: bool, text_transform: TextTransform | None, room: object | None
    ) -> None:
        self.include_data_bytes = include_data_bytes
        self.text_transform = text_transform
        self.room = room


def _participant(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    return {"participant": participant_info(args[0])}


def _disconnected_participant(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    p = args[0]
    reason = p.disconnect_reason
    return {
        "participant": participant_info(p),
        "reason": None if reason is None else enum_name(_DISCONNECT, reason),
    }


def _metadata_changed(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    return {"participant": participant_ref(args[0]), "old_metadata": args[1], "new_metadata": args[2]}


def _name_changed(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    return {"participant": participant_ref(args[0]), "old_name": args[1], "new_name": args[2]}


def _attributes_changed(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    return {"participant": participant_ref(args[1]), "changed_attributes": dict(args[0])}


def _permissions_changed(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    perm = args[1]
    return {
        "participant": participant_ref(args[0]),
        "permissions": {
            "can_subscribe": perm.can_subscribe,
            "can_publish": perm.can_publish,
            "can_publish_data": perm.can_publish_data,
            "can_publish_sources": [enum_name(_TRACK_SOURCE, s) for s in perm.can_publish_sources],
            "hidden": perm.hidden,
            "can_update_metadata": perm.can_update_metadata,
            "can_subscribe_metrics": perm.can_subscribe_metrics,
            "can_manage_agent_session": perm.can_manage_agent_session,
        },
    }


def _quality(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    return {"participant": _opt_ref(args[0]), "quality": enum_name(_QUALITY, int(args[1]))}


def _speakers(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    return {"speakers": [participant_ref(p) for p in args[0]]}


def _room_metadata(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    return {"old_metadata": args[0], "new_metadata": args[1]}


def _room_info(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    return {"room": room_info(o.room) if isinstance(o.room, rtc.Room) else None}


def _data(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    packet: rtc.DataPacket = args[0]
    out: dict[str, Any] = {
        "topic": packet.topic,
        "kind": enum_name(_DATA_KIND, packet.kind),
        "size": len(packet.data),
        "participant": _opt_ref(packet.participant),
    }
    if o.include_data_bytes:
        out["data_base64"] = base64.b64encode(packet.data).decode("ascii")
    return out


def _dtmf(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    dtmf: rtc.SipDTMF = args[0]
    if o.text_transform is not None:  # redacted: a digit's hash would name it (ten values)
        return {"code": None, "digit": None, "participant": _opt_ref(dtmf.participant)}
    return {"code": dtmf.code, "digit": dtmf.digit, "participant": _opt_ref(dtmf.participant)}


def _transcription(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    tt = o.text_transform
    segments = [
        {
            "id": s.id,
            "text": s.text if tt is None else tt(s.text),
            "start_time": s.start_time,
            "end_time": s.end_time,
            "language": s.language,
            "final": s.final,
        }
        for s in args[0]
    ]
    pub = args[2]
    return {
        "segments": segments,
        "participant": _opt_ref(args[1]),
        "track_sid": None if pub is None else pub.sid,
    }


def _pub_participant(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    return {"publication": publication(args[0]), "participant": participant_ref(args[1])}


def _track_sub(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    track = args[0]
    return {
        "track_sid": None if track is None else track.sid,
        "publication": publication(args[1]),
        "participant": participant_ref(args[2]),
    }


def _participant_pub(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    return {"participant": participant_ref(args[0]), "publication": publication(args[1])}


def _sub_failed(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    return {"participant": participant_ref(args[0]), "track_sid": args[1], "error": str(args[2])}


def _conn_state(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    return {"state": enum_name(_CONN_STATE, args[0])}


def _empty(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    return {}


def _disconnected(args: tuple[Any, ...], o: RoomArgs) -> dict[str, Any]:
    return {"reason": enum_name(_DISCONNECT, args[0])}


RoomMapper = Callable[[tuple[Any, ...], RoomArgs], dict[str, Any]]

MAPPERS: dict[str, RoomMapper] = {
    "participant_connected": _participant,
    "participant_disconnected": _disconnected_participant,
    "participant_active": _participant,
    "participant_metadata_changed": _metadata_changed,
    "participant_name_changed": _name_changed,
    "participant_attributes_changed": _attributes_changed,
    "participant_permissions_changed": _permissions_changed,
    "connection_quality_changed": _quality,
    "active_speakers_changed": _speakers,
    "room_metadata_changed": _room_metadata,
    "room_updated": _room_info,
    "moved": _room_info,
    "data_received": _data,
    "sip_dtmf_received": _dtmf,
    "transcription_received": _transcription,
    "track_published": _pub_participant,
    "track_unpublished": _pub_participant,
    "track_subscribed": _track_sub,
    "track_unsubscribed": _track_sub,
    "track_muted": _participant_pub,
    "track_unmuted": _participant_pub,
    "track_subscription_failed": _sub_failed,
    "connection_state_changed": _conn_state,
    "reconnecting": _empty,
    "reconnected": _empty,
    "disconnected": _disconnected,
}
"""rtc Room event name to its mapper."""


def map_room_event(name: str, args: tuple[Any, ...], opts: RoomArgs) -> tuple[str, dict[str, Any]] | None:
    """Return (event type, wire data), or None for a deliberately excluded event."""
    mapper = MAPPERS.get(name)
    if mapper is None:
        if name in EXCLUDED_ROOM_EVENTS:
            return None
        raise UnsupportedEvent(f"no schema for room event {name!r}")
    try:
        data = mapper(args, opts)
    except (IndexError, AttributeError, TypeError) as exc:
        raise UnsupportedEvent(f"unexpected arguments for room event {name!r}") from exc
    return ROOM_PREFIX + name, data
