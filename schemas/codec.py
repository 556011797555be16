"""Encode events to Kafka records and decode records back to typed events.

Encoding builds plain dicts from the SDK objects and serialises them once with
orjson: nothing is validated, since we built the data ourselves. Decoding validates
everything with pydantic and raises a single error type, ``DecodeError``.
"""

from __future__ import annotations

import base64
import functools
import time as _time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

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
    EncodedRecord,
    Event,
    SessionContext,
    TopicFamily,
)
from schemas.exceptions import DecodeError, DecodeReason, EncodeError, UnsupportedEvent
from schemas.fast_decode import (
    CONTENT_TYPE_BYTES,
    HEADER_ORDER,
    SPEC_BYTES,
    check_fast,
    fast_decoder_for,
    header_values,
)
from schemas.ids import uuid7, uuid7_bytes
from schemas.payloads.commands_v1 import COMMANDS, CommandV1
from schemas.registry import REGISTRY, Registry
from schemas.sdk_mapping.common import TextTransform

_SPEC_BYTES = SPEC_VERSION.encode()
_CONTENT_TYPE_BYTES = CONTENT_TYPE.encode()
_COMMAND_TYPES: dict[type[CommandV1], str] = {model: name for name, model in COMMANDS.items()}


_second_cache: tuple[int, str, bytes] = (-1, "", b"")


def _time_parts(t: float) -> tuple[tuple[int, str, bytes], int]:
    """The ``YYYY-MM-DDTHH:MM:SS`` prefix (cached per second) and the microseconds."""
    global _second_cache
    second, micro = divmod(round(t * 1_000_000), 1_000_000)
    cached = _second_cache
    if second != cached[0]:
        text = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(second))
        cached = _second_cache = (second, text, text.encode())
    return cached, micro


def format_time(t: float) -> str:
    """Epoch seconds as an RFC 3339 UTC timestamp with microseconds (``...T12:00:00.123456Z``)."""
    cached, micro = _time_parts(t)
    return f"{cached[1]}.{micro:06d}Z"


@dataclass(frozen=True, slots=True)
class _TypeMeta:
    family: TopicFamily
    version: str
    version_bytes: bytes
    type_bytes: bytes


_TYPE_META: dict[str, _TypeMeta] = {}


def _type_meta(type_name: str) -> _TypeMeta:
    meta = _TYPE_META.get(type_name)
    if meta is None:
        spec = REGISTRY.spec(type_name)
        version = str(spec.current.version)
        meta = _TypeMeta(spec.family, version, version.encode(), type_name.encode())
        if len(_TYPE_META) >= 1024:
            _TYPE_META.clear()
        _TYPE_META[type_name] = meta
    return meta


def _json_default(obj: object) -> Any:
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(obj, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return f"<{type(obj).__name__}>"


_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1


def _sanitize(obj: Any) -> Any:
    """Make free-form values (``extra`` dicts) JSON-safe: string keys, 64-bit integers."""
    if isinstance(obj, dict):
        return {k if isinstance(k, str) else str(k): _sanitize(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_sanitize(v) for v in obj]
    if isinstance(obj, int) and not isinstance(obj, bool) and not _INT64_MIN <= obj <= _UINT64_MAX:
        return str(obj)
    return obj


def _dumps(body: Any, type_name: object) -> bytes:
    try:
        return orjson.dumps(body, default=_json_default)
    except orjson.JSONEncodeError:
        try:
            return orjson.dumps(_sanitize(body), default=_json_default)
        except orjson.JSONEncodeError as exc:
            raise EncodeError(f"{type_name} data is not JSON serialisable") from exc


def _record_slow(
    type_name: str,
    data: Mapping[str, Any],
    *,
    session_id: str,
    source: str,
    event_time: float,
    seq: int | None,
    ctx: SessionContext | None,
) -> EncodedRecord:
    """The reference encoder: one body dict, one ``orjson.dumps``.

    ``_record`` writes the same bytes from cached fragments; this one handles what the
    fragments do not (commands, values orjson cannot write as they are).
    """
    meta = _type_meta(type_name)
    event_id = uuid7()
    time_text = format_time(event_time)
    body: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event_id,
        "type": type_name,
        "source": source,
        "time": time_text,
        "schema_version": meta.version,
        "session_id": session_id,
    }
    if ctx is not None:
        body["agent_name"] = ctx.agent_name
        body["job_id"] = ctx.job_id
        body["room_name"] = ctx.room_name
        body["room_sid"] = ctx.room_sid
        body["participant_identity"] = ctx.participant_identity
    if seq is not None:
        body["seq"] = seq
    body["data"] = data
    headers = [
        (HEADER_SPECVERSION, _SPEC_BYTES),
        (HEADER_ID, event_id.encode()),
        (HEADER_TYPE, meta.type_bytes),
        (HEADER_SOURCE, source.encode()),
        (HEADER_TIME, time_text.encode()),
        (HEADER_CONTENT_TYPE, _CONTENT_TYPE_BYTES),
        (SCHEMA_VERSION_HEADER, meta.version_bytes),
    ]
    return EncodedRecord(
        family=meta.family,
        type=type_name,
        key=session_id.encode(),
        value=_dumps(body, type_name),
        headers=headers,
        time=event_time,
    )


class _Fragments(NamedTuple):
    """The constant bytes of one (event type, session) pair's records.

    The value is ``HEAD id MIDDLE time TAIL seq DATA_KEY data }``: exactly what
    ``orjson.dumps`` writes for the envelope dict of ``_record_slow``.
    """

    family: TopicFamily
    type_name: str
    middle: bytes
    tail: bytes
    key: bytes
    specversion_header: tuple[str, bytes]
    type_header: tuple[str, bytes]
    source_header: tuple[str, bytes]
    content_type_header: tuple[str, bytes]
    version_header: tuple[str, bytes]


_HEAD = b'{"specversion":' + orjson.dumps(SPEC_VERSION) + b',"id":"'
_DATA_KEY = b',"data":'
_VALUE = _HEAD + b"%s%s%s%s%d" + _DATA_KEY + b"%s}"


def _fragments(type_name: str, ctx: SessionContext) -> _Fragments | None:
    """The cached fragments; None when a context value is not JSON text (slow path)."""
    meta = _type_meta(type_name)
    try:
        middle = b"".join(
            [
                b'","type":',
                orjson.dumps(type_name),
                b',"source":',
                orjson.dumps(ctx.source),
                b',"time":"',
            ]
        )
        tail = b"".join(
            [
                b'","schema_version":',
                orjson.dumps(meta.version),
                b',"session_id":',
                orjson.dumps(ctx.session_id),
                b',"agent_name":',
                orjson.dumps(ctx.agent_name),
                b',"job_id":',
                orjson.dumps(ctx.job_id),
                b',"room_name":',
                orjson.dumps(ctx.room_name),
                b',"room_sid":',
                orjson.dumps(ctx.room_sid),
                b',"participant_identity":',
                orjson.dumps(ctx.participant_identity),
                b',"seq":',
            ]
        )
        key = ctx.session_id.encode()
        source = ctx.source.encode()
    except (orjson.JSONEncodeError, AttributeError, UnicodeEncodeError):
        return None
    frags = _Fragments(
        meta.family,
        type_name,
        middle,
        tail,
        key,
        (HEADER_SPECVERSION, _SPEC_BYTES),
        (HEADER_TYPE, meta.type_bytes),
        (HEADER_SOURCE, source),
        (HEADER_CONTENT_TYPE, _CONTENT_TYPE_BYTES),
        (SCHEMA_VERSION_HEADER, meta.version_bytes),
    )
    ctx.encoder_cache[type_name] = frags
    return frags


_orjson_dumps = orjson.dumps
_new_record = tuple.__new__


def _record(
    type_name: str,
    data: Mapping[str, Any],
    ctx: SessionContext,
    seq: int,
    event_time: float,
) -> EncodedRecord:
    """Encode a session-scoped event: envelope bytes from cached fragments, data dumped once."""
    frags = ctx.encoder_cache.get(type_name)
    if frags is None:
        frags = _fragments(type_name, ctx)
    if frags is None or type(seq) is not int or seq > _UINT64_MAX or seq < _INT64_MIN:
        return _record_slow(
            type_name,
            data,
            session_id=ctx.session_id,
            source=ctx.source,
            event_time=event_time,
            seq=seq,
            ctx=ctx,
        )
    family, type_name, middle, tail, key, h_spec, h_type, h_source, h_ctype, h_version = frags
    event_id = uuid7_bytes()
    second, micro = divmod(round(event_time * 1_000_000), 1_000_000)
    cached = _second_cache
    if second != cached[0]:
        cached = _time_parts(event_time)[0]
    time_bytes = b"%s.%06dZ" % (cached[2], micro)
    try:
        data_bytes = _orjson_dumps(data, default=_json_default)
    except orjson.JSONEncodeError:
        data_bytes = _dumps(data, type_name)
    value = _VALUE % (event_id, middle, time_bytes, tail, seq, data_bytes)
    headers = [h_spec, (HEADER_ID, event_id), h_type, h_source, (HEADER_TIME, time_bytes), h_ctype, h_version]
    # The NamedTuple's own __new__ is a Python function; tuple.__new__ skips it.
    return _new_record(EncodedRecord, (family, type_name, key, value, headers, event_time))


class _SdkMapping:
    """The SDK-object mappers, imported on first use: they load livekit, which decoding never needs."""

    def __init__(self) -> None:
        from schemas.sdk_mapping.agent import TYPED_MAPPERS, map_agent_event
        from schemas.sdk_mapping.room import RoomArgs, map_room_event

        self.map_agent_event = map_agent_event
        self.typed_agent_mappers = TYPED_MAPPERS
        self.map_room_event = map_room_event
        self.RoomArgs = RoomArgs


@functools.cache
def _sdk() -> _SdkMapping:
    return _SdkMapping()


def encode_session_event(
    ev: object,
    ctx: SessionContext,
    seq: int,
    *,
    text_transform: TextTransform | None = None,
) -> EncodedRecord:
    """Encode an AgentSession event object; UnsupportedEvent for an unknown object.

    ``text_transform`` is applied to transcripts and chat message text; a None result
    drops the text (the field becomes null).
    """
    # map_agent_event's common case, inlined: this runs on the agent's loop for every event.
    entry = _agent_mappers.get(type(ev))
    if entry is not None:
        created_at = getattr(ev, "created_at", None)
        if type(created_at) is float:
            type_name, mapper = entry
            return _record(type_name, mapper(ev, text_transform), ctx, seq, created_at)
    type_name, data, created_at = _map_agent_event(ev, text_transform)
    return _record(type_name, data, ctx, seq, created_at)


_agent_mappers: Mapping[type, tuple[str, Callable[[Any, TextTransform | None], dict[str, Any]]]] = {}
"""SDK event class to (wire type, mapper): the mapping module's table once it is loaded."""


def _map_agent_event(ev: object, tt: TextTransform | None) -> tuple[str, dict[str, Any], float]:
    global _agent_mappers
    sdk = _sdk()
    _agent_mappers = sdk.typed_agent_mappers
    return sdk.map_agent_event(ev, tt)


def encode_room_event(
    name: str,
    args: tuple[object, ...],
    ctx: SessionContext,
    seq: int,
    *,
    include_data_bytes: bool = False,
    text_transform: TextTransform | None = None,
    room: object | None = None,
    event_time: float | None = None,
) -> EncodedRecord | None:
    """Encode an rtc Room event from its name and callback arguments.

    Returns None for events deliberately not published (``EXCLUDED_ROOM_EVENTS``).
    Pass ``room`` so ``room_updated`` / ``moved`` carry the room's new state.
    """
    sdk = _sdk()
    mapped = sdk.map_room_event(name, args, sdk.RoomArgs(include_data_bytes, text_transform, room))
    if mapped is None:
        return None
    type_name, data = mapped
    return _record(type_name, data, ctx, seq, _time.time() if event_time is None else event_time)


def encode_event(
    type: str,
    data: Mapping[str, object],
    ctx: SessionContext,
    seq: int,
    time: float,
) -> EncodedRecord:
    """Encode a lifecycle event or command outcome from a dict we built (not validated)."""
    family = _type_meta(type).family
    if family is TopicFamily.COMMANDS:
        raise UnsupportedEvent(f"{type} is a command: use encode_command")
    return _record(type, data, ctx, seq, time)


def encode_command(cmd: CommandV1, *, source: str = "lkbus") -> EncodedRecord:
    """Encode a command for the commands topic, keyed by its target session."""
    type_name = _COMMAND_TYPES.get(type(cmd))
    if type_name is None:
        raise UnsupportedEvent(f"no schema for command {type(cmd).__name__}")
    return _record_slow(
        type_name,
        cmd.model_dump(mode="json"),
        session_id=cmd.session_id,
        source=source,
        event_time=cmd.issued_at,
        seq=None,
        ctx=None,
    )


_HEADER_FIELDS: dict[str, str] = {
    HEADER_ID: "id",
    HEADER_TYPE: "type",
    HEADER_SOURCE: "source",
    HEADER_SPECVERSION: "specversion",
    SCHEMA_VERSION_HEADER: "schema_version",
    HEADER_TIME: "time",
}


def _same_time(a: str, b: str) -> bool:
    try:
        return datetime.fromisoformat(a) == datetime.fromisoformat(b)
    except ValueError:
        return False


def _check_headers(headers: Sequence[tuple[str, bytes]], body: dict[str, Any]) -> None:
    for name, raw in headers:
        field = _HEADER_FIELDS.get(name)
        if field is None and name != HEADER_CONTENT_TYPE:
            continue
        try:
            text = bytes(raw).decode("utf-8")
        except (UnicodeDecodeError, TypeError) as exc:
            raise DecodeError(
                DecodeReason.INVALID_HEADER, "header value is not UTF-8 text", path=name
            ) from exc
        if field is None:
            if text.split(";", 1)[0].strip().lower() != CONTENT_TYPE:
                raise DecodeError(
                    DecodeReason.INVALID_HEADER, f"content type must be {CONTENT_TYPE}", path=name
                )
            continue
        in_body = body.get(field)
        if not isinstance(in_body, str) or in_body == text:
            continue
        if field == "time" and _same_time(in_body, text):
            continue
        raise DecodeError(
            DecodeReason.HEADER_MISMATCH,
            f"header {name} and body field {field!r} disagree",
            path=field,
        )


def _error_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _validation_error(exc: ValidationError) -> DecodeError:
    first = exc.errors(include_url=False, include_input=False)[0]
    reason = DecodeReason.MISSING_FIELD if first["type"] == "missing" else DecodeReason.INVALID_FIELD
    count = exc.error_count()
    more = f" (and {count - 1} more)" if count > 1 else ""
    return DecodeError(reason, f"{first['msg']}{more}", path=_error_path(tuple(first["loc"])))


def decode(
    value: bytes,
    headers: Sequence[tuple[str, bytes]] | None,
    *,
    registry: Registry = REGISTRY,
) -> Event:
    """Decode a record value (and its headers, when given) into a typed ``Event``.

    Older schema versions are upcast to the current one; a newer minor version is
    read with the newest known one, ignoring unknown fields. Every failure raises
    ``DecodeError`` whose ``reason`` and message say what is wrong and where.
    """
    # The fast path, inline: a call level costs about 5 % of a decode. ``check_fast`` reads the
    # same way. It takes a record of a current version with CloudEvents headers that agree with
    # the body, and bails out to the reference path below on anything else.
    kind = type(headers)
    if kind is list or kind is tuple:  # an iterator would be consumed here and not seen below
        try:
            try:
                (
                    (n0, spec),
                    (n1, id_),
                    (n2, type_),
                    (n3, source),
                    (n4, time),
                    (n5, content_type),
                    (n6, version),
                ) = headers  # type: ignore[misc]
                if (n0, n1, n2, n3, n4, n5, n6) != HEADER_ORDER:
                    raise ValueError
            except ValueError:
                spec, id_, type_, source, time, content_type, version = header_values(headers)  # type: ignore[arg-type]
            fast = registry.fast_decoders.get(type_) or fast_decoder_for(registry, type_)
            if version == fast.version:
                wire = fast.decode(value)
                # time as text: the reference path also accepts the same instant written otherwise
                if (
                    time == wire.time.encode()
                    and id_ == wire.id.encode()
                    and source == wire.source.encode()
                    and spec == SPEC_BYTES
                    and content_type == CONTENT_TYPE_BYTES
                ):
                    event: Event = fast.convert(wire)
                    return event
        except (TypeError, ValueError):  # msgspec's and pydantic's errors are ValueErrors
            pass
    return _decode_checked(value, headers, registry)


def _decode_checked(value: bytes, headers: Sequence[tuple[str, bytes]] | None, registry: Registry) -> Event:
    """``decode``'s reference path: every check, each failure named."""
    try:
        body = orjson.loads(value)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise DecodeError(DecodeReason.NOT_JSON, "value is not valid UTF-8 JSON") from exc
    if not isinstance(body, dict):
        raise DecodeError(DecodeReason.NOT_OBJECT, f"value is a JSON {type(body).__name__}, not an object")
    if headers:
        _check_headers(headers, body)
    type_name = body.get("type")
    if type_name is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, "Field required", path="type")
    if not isinstance(type_name, str):
        raise DecodeError(DecodeReason.INVALID_FIELD, "type must be a string", path="type")
    spec = registry.get(type_name)
    if spec is None:
        raise DecodeError(DecodeReason.UNKNOWN_TYPE, f"no schema for event type {type_name!r}", path="type")
    version = body.get("schema_version")
    if version is None:
        raise DecodeError(DecodeReason.MISSING_FIELD, "Field required", path="schema_version")
    if not isinstance(version, str):
        raise DecodeError(
            DecodeReason.UNSUPPORTED_VERSION, "schema_version must be a string", path="schema_version"
        )
    idx, vspec = registry.resolve(spec, version)
    body["schema_version"] = str(vspec.version)
    try:
        event: Event = vspec.event_class.__pydantic_validator__.validate_python(body)
    except ValidationError as exc:
        raise _validation_error(exc) from exc
    if idx == len(spec.versions) - 1:
        return event
    payload = event.data
    for step in spec.versions[idx + 1 :]:
        assert step.upcast is not None
        payload = step.upcast(payload)
    current = spec.current
    fields = {name: getattr(event, name) for name in Event.model_fields if name != "data"}
    fields["schema_version"] = str(current.version)
    fields["data"] = payload
    try:
        return current.event_class.model_validate(fields)
    except ValidationError as exc:
        raise _validation_error(exc) from exc


def is_current_event(
    value: bytes,
    headers: Sequence[tuple[str, bytes]] | None,
    *,
    registry: Registry = REGISTRY,
) -> bool:
    """True when the record is a valid event at its type's current schema version, exactly as
    its value says (``decode`` would return it unchanged), read without building its models.

    False means nothing more than "decode it to know": readers that only pass records on
    (replay to JSON Lines) use this to skip building events they would not look at.
    """
    return bool(headers) and check_fast(value, headers, registry)  # type: ignore[arg-type]


def current_events(
    values: Iterable[bytes | None],
    headers: Iterable[Sequence[tuple[str, bytes]] | None],
    *,
    registry: Registry = REGISTRY,
) -> list[bool]:
    """``is_current_event`` of each record (the i-th value with the i-th headers), in one call:
    for readers that pass whole batches on."""
    return list(map(check_fast, values, headers, repeat(registry)))  # type: ignore[arg-type]


def check_record(
    value: bytes,
    headers: Sequence[tuple[str, bytes]] | None,
    *,
    registry: Registry = REGISTRY,
) -> None:
    """Raise the ``DecodeError`` that ``decode`` would raise for this record, and nothing else.

    For readers that need to know a record is a valid event but not the event itself (the
    archive): the common record is read without building its models.
    """
    if headers and check_fast(value, headers, registry):
        return
    decode(value, headers, registry=registry)
