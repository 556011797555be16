"""Bad records raise one typed error that names the reason and the field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas import DecodeError, DecodeReason, SchemaError, SessionContext, decode, encode_event

CTX = SessionContext(session_id="sess_1", agent_name="a", source="w")
GOOD = encode_event(
    "livekit.agent.agent_state_changed", {"old_state": "idle", "new_state": "thinking"}, CTX, 1, 1.0
)
BODY: dict[str, Any] = orjson.loads(GOOD.value)


def _with(**changes: Any) -> bytes:
    body = {**BODY, **changes}
    return orjson.dumps({k: v for k, v in body.items() if v is not _DROP})


def _data(**changes: Any) -> bytes:
    data = {**BODY["data"], **changes}
    return _with(data={k: v for k, v in data.items() if v is not _DROP})


_DROP = object()
H = GOOD.headers


def _headers(**changes: bytes) -> list[tuple[str, bytes]]:
    return [(k, changes.get(k, v)) for k, v in H]


CASES: list[tuple[str, bytes, list[tuple[str, bytes]] | None, DecodeReason, str | None]] = [
    ("empty", b"", None, DecodeReason.NOT_JSON, None),
    ("garbage", b"{not json", None, DecodeReason.NOT_JSON, None),
    ("not utf-8", b'{"a": "\xff"}', None, DecodeReason.NOT_JSON, None),
    ("array", b"[1, 2]", None, DecodeReason.NOT_OBJECT, None),
    ("string", b'"hello"', None, DecodeReason.NOT_OBJECT, None),
    ("null", b"null", None, DecodeReason.NOT_OBJECT, None),
    ("no type", _with(type=_DROP), None, DecodeReason.MISSING_FIELD, "type"),
    ("type not a string", _with(type=3), None, DecodeReason.INVALID_FIELD, "type"),
    ("unknown type", _with(type="livekit.agent.nope"), None, DecodeReason.UNKNOWN_TYPE, "type"),
    ("no version", _with(schema_version=_DROP), None, DecodeReason.MISSING_FIELD, "schema_version"),
    ("version not text", _with(schema_version=1), None, DecodeReason.UNSUPPORTED_VERSION, "schema_version"),
    ("bad version", _with(schema_version="v1"), None, DecodeReason.UNSUPPORTED_VERSION, "schema_version"),
    ("new major", _with(schema_version="2.0"), None, DecodeReason.UNSUPPORTED_VERSION, "schema_version"),
    ("no id", _with(id=_DROP), None, DecodeReason.MISSING_FIELD, "id"),
    ("no seq", _with(seq=_DROP), None, DecodeReason.MISSING_FIELD, "seq"),
    ("seq zero", _with(seq=0), None, DecodeReason.INVALID_FIELD, "seq"),
    ("seq text", _with(seq="one"), None, DecodeReason.INVALID_FIELD, "seq"),
    ("naive time", _with(time="2026-01-01T00:00:00"), None, DecodeReason.INVALID_FIELD, "time"),
    ("bad time", _with(time="yesterday"), None, DecodeReason.INVALID_FIELD, "time"),
    ("bad specversion", _with(specversion="0.3"), None, DecodeReason.INVALID_FIELD, "specversion"),
    ("no data", _with(data=_DROP), None, DecodeReason.MISSING_FIELD, "data"),
    ("data not object", _with(data=[1]), None, DecodeReason.INVALID_FIELD, "data"),
    ("missing payload field", _data(new_state=_DROP), None, DecodeReason.MISSING_FIELD, "data.new_state"),
    ("bad enum value", _data(new_state="dancing"), None, DecodeReason.INVALID_FIELD, "data.new_state"),
    (
        "header type",
        GOOD.value,
        _headers(ce_type=b"livekit.agent.close"),
        DecodeReason.HEADER_MISMATCH,
        "type",
    ),
    ("header id", GOOD.value, _headers(ce_id=b"other"), DecodeReason.HEADER_MISMATCH, "id"),
    (
        "header version",
        GOOD.value,
        _headers(ce_schemaversion=b"1.1"),
        DecodeReason.HEADER_MISMATCH,
        "schema_version",
    ),
    (
        "header time",
        GOOD.value,
        _headers(ce_time=b"2020-01-01T00:00:00Z"),
        DecodeReason.HEADER_MISMATCH,
        "time",
    ),
    ("header source", GOOD.value, _headers(ce_source=b"x"), DecodeReason.HEADER_MISMATCH, "source"),
    ("header not utf-8", GOOD.value, _headers(ce_id=b"\xff"), DecodeReason.INVALID_HEADER, "ce_id"),
    (
        "content type",
        GOOD.value,
        [("content-type", b"application/avro")],
        DecodeReason.INVALID_HEADER,
        "content-type",
    ),
]


@pytest.mark.parametrize(
    ("value", "headers", "reason", "path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_the_typed_error(
    value: bytes, headers: list[tuple[str, bytes]] | None, reason: DecodeReason, path: str | None
) -> None:
    with pytest.raises(DecodeError) as info:
        decode(value, headers)
    assert info.value.reason is reason
    assert info.value.path == path
    assert str(info.value).startswith(reason.value)
    assert isinstance(info.value, SchemaError)


def test_messages_do_not_echo_values() -> None:
    with pytest.raises(DecodeError) as info:
        decode(_data(new_state="my secret transcript"), None)
    assert "secret" not in str(info.value)


def test_good_record_and_equivalent_headers_decode() -> None:
    assert decode(GOOD.value, GOOD.headers).data.model_dump() == BODY["data"]
    same_instant = _headers(ce_time=BODY["time"].replace("Z", "+00:00").encode())
    assert decode(GOOD.value, same_instant).seq == 1
    assert decode(GOOD.value, [("content-type", b"application/json; charset=utf-8")]).seq == 1


def test_unknown_fields_are_tolerated() -> None:
    event = decode(_data(future_field=1), None)
    assert event.data.model_dump() == BODY["data"]
    assert decode(_with(future_attr="x"), None).id == BODY["id"]


def test_newer_minor_version_is_read_with_the_known_one() -> None:
    event = decode(_with(schema_version="1.7", data={**BODY["data"], "mood": "happy"}), None)
    assert event.schema_version == "1.0"
    assert event.data.model_dump() == BODY["data"]
