"""The fast encode and decode paths give exactly what the reference paths give.

Encode: the value is the bytes ``orjson.dumps`` writes for the envelope dict, whatever
the context holds. Decode: with headers (fast path) and without them (the reference
path, which reads the value with ``orjson.loads``), a record decodes to an equal event
or fails with the same reason and path.
"""

from __future__ import annotations

import copy
import pickle
import types
import typing
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel

from schemas import (
    REGISTRY,
    DecodeError,
    EncodedRecord,
    Event,
    SessionContext,
    TopicFamily,
    check_record,
    codec,
    current_events,
    decode,
    encode_command,
    encode_event,
    encode_session_event,
    is_current_event,
)
from schemas.fast_decode import check_fast, prepare_fast_decoders
from schemas.payloads.agent_v1 import UserStateChangedV1
from schemas.registry import Registry
from tests.unit.schemas import sdk_samples

CTX = SessionContext(
    session_id="sess_1",
    agent_name="agent",
    source="worker-1",
    job_id="AJ_1",
    room_name="room",
    room_sid="RM_1",
    participant_identity="user",
)
TRANSCRIBED = "livekit.agent.user_input_transcribed"
OVERLAP = "livekit.agent.overlapping_speech"


def _expected_value(record: EncodedRecord, ctx: SessionContext, seq: int, data: Any) -> bytes:
    headers = dict(record.headers)
    body = {
        "specversion": "1.0",
        "id": headers["ce_id"].decode(),
        "type": record.type,
        "source": ctx.source,
        "time": headers["ce_time"].decode(),
        "schema_version": headers["ce_schemaversion"].decode(),
        "session_id": ctx.session_id,
        "agent_name": ctx.agent_name,
        "job_id": ctx.job_id,
        "room_name": ctx.room_name,
        "room_sid": ctx.room_sid,
        "participant_identity": ctx.participant_identity,
        "seq": seq,
        "data": data,
    }
    return orjson.dumps(body)


opt_text = st.none() | st.text(max_size=12)
contexts = st.builds(
    SessionContext,
    session_id=st.text(min_size=1, max_size=12),
    agent_name=st.text(max_size=12),
    source=st.text(min_size=1, max_size=12),
    job_id=opt_text,
    room_name=opt_text,
    room_sid=opt_text,
    participant_identity=opt_text,
)


@settings(max_examples=200, deadline=None)
@given(ctx=contexts, seq=st.integers(min_value=1, max_value=2**64 - 1), resumed=st.booleans())
def test_encoded_value_is_the_envelope_dict_dumped(ctx: SessionContext, seq: int, resumed: bool) -> None:
    data = {"resumed": resumed}
    record = encode_event("livekit.agent.agent_false_interruption", data, ctx, seq, 1.5)
    assert record.value == _expected_value(record, ctx, seq, data)
    assert record.key == ctx.session_id.encode()
    assert [name for name, _ in record.headers] == [
        "ce_specversion",
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_time",
        "content-type",
        "ce_schemaversion",
    ]


@pytest.mark.parametrize("seq", [True, 2**64, -(2**63) - 1])
def test_seq_orjson_would_not_write_as_int_takes_the_reference_path(seq: int) -> None:
    record = encode_event("livekit.agent.agent_false_interruption", {"resumed": True}, CTX, seq, 1.5)
    body = orjson.loads(record.value)
    assert body["seq"] == (True if seq is True else str(seq))


def test_every_sample_encodes_to_the_reference_bytes() -> None:
    for ev in sdk_samples.agent_events():
        record = encode_session_event(ev, CTX, 3)
        data = orjson.loads(record.value)["data"]
        assert record.value == _expected_value(record, CTX, 3, data)


def _outcome(value: bytes, headers: list[tuple[str, Any]] | None) -> Event | tuple[str, str | None]:
    try:
        return decode(value, headers)
    except DecodeError as exc:
        return (exc.reason.value, exc.path)


class _ReferencePathTakenError(Exception):
    pass


def _fast_decode(value: Any, headers: Any) -> Event | None:
    """``decode``'s event when its fast path takes the record (None: it went to the reference path)."""
    with mock.patch.object(codec, "_decode_checked", side_effect=_ReferencePathTakenError):
        try:
            return decode(value, headers)
        except _ReferencePathTakenError:
            return None


def _check_outcome(value: bytes, headers: list[tuple[str, Any]] | None) -> tuple[str, str | None] | None:
    try:
        check_record(value, headers)
    except DecodeError as exc:
        return (exc.reason.value, exc.path)
    return None


def _same_both_ways(value: bytes, headers: list[tuple[str, Any]]) -> None:
    """With headers (fast path) as without them (reference), unless a header disagrees;
    ``check_record`` fails exactly when ``decode`` does, for the same reason."""
    fast = _outcome(value, headers)
    reference = _outcome(value, None)
    assert check_fast(value, headers, REGISTRY) == (_fast_decode(value, headers) is not None), "one fast path"
    for with_headers in (headers, None):
        outcome = _outcome(value, with_headers)
        assert _check_outcome(value, with_headers) == (None if isinstance(outcome, Event) else outcome)
    if isinstance(fast, Event):
        assert fast == reference or repr(fast) == repr(reference)  # NaN != NaN
        assert type(fast) is type(reference)
        assert type(fast.time.tzinfo) is type(reference.time.tzinfo)
    else:
        assert fast == reference or fast[0] in {"header_mismatch", "invalid_header"}


def _record_with(type_name: str, data: dict[str, Any]) -> EncodedRecord:
    return encode_event(type_name, data, CTX, 1, 1_700_000_000.25)


def _raw_body(record: EncodedRecord, data_json: bytes) -> bytes:
    value = record.value
    return value[: value.index(b'"data":') + 7] + data_json + b"}"


@pytest.mark.parametrize(
    "data_json",
    [
        b'{"detected_at": NaN}',
        b'{"detected_at": Infinity}',
        b'{"detected_at": -Infinity}',
        b'{"detected_at": 1e400}',
        b'{"detected_at": 1.0, "num_requests": 18446744073709551616}',
        b'{"detected_at": 1.0, "num_requests": 9007199254740993}',
        b'{"detected_at": 1.0, "num_requests": 18446744073709551615}',
        b'{"detected_at": 1.0, "num_requests": -9223372036854775809}',
        b'{"detected_at": 123456789012345678901234567890}',
        b'{"detected_at": "NaN"}',
        b'{"detected_at": 1.0, "detected_at": 2.0}',
        b'{"detected_at": 1.0, "extra_field": NaN}',
    ],
)
def test_numbers_orjson_reads_otherwise_decode_as_the_reference(data_json: bytes) -> None:
    record = _record_with(OVERLAP, {"detected_at": 1.0})
    _same_both_ways(_raw_body(record, data_json), record.headers)


@pytest.mark.parametrize(
    "extra",
    [
        b"{}",
        b'{"a": NaN}',
        b'{"a": [1, {"b": Infinity}]}',
        b'{"a": 18446744073709551616}',
        b'{"a": 1e999}',
        b'{"a": [1.5, -2, "x", null, true, {"c": []}]}',
    ],
)
def test_free_form_values_decode_as_the_reference(extra: bytes) -> None:
    ev = next(e for e in sdk_samples.agent_events() if type(e).__name__ == "ConversationItemAddedEvent")
    record = encode_session_event(ev, CTX, 1)
    body = orjson.loads(record.value)
    body["data"]["item"]["extra"] = "@@EXTRA@@"
    value = orjson.dumps(body).replace(b'"@@EXTRA@@"', extra)
    _same_both_ways(value, record.headers)


GOOD = _record_with(TRANSCRIBED, {"transcript": "hi", "is_final": True})


def _headers(**changes: Any) -> list[tuple[str, Any]]:
    return [(k, changes.get(k, v)) for k, v in GOOD.headers]


@pytest.mark.parametrize(
    "headers",
    [
        GOOD.headers,
        list(reversed(GOOD.headers)),
        tuple(GOOD.headers),
        [*GOOD.headers, ("traceparent", b"00-abc")],
        [*GOOD.headers, ("ce_id", b"other")],
        [*GOOD.headers, ("ce_id", dict(GOOD.headers)["ce_id"])],
        [(k, v) for k, v in GOOD.headers if k != "ce_time"],
        [(k, v) for k, v in GOOD.headers if k != "ce_type"],
        [(k, v) for k, v in GOOD.headers if k != "ce_schemaversion"],
        list(reversed([(k, v) for k, v in GOOD.headers if k != "ce_schemaversion"])),
        [(k, v) for k, v in GOOD.headers if k not in {"ce_id", "ce_source", "content-type"}],
        _headers(ce_id=bytearray(dict(GOOD.headers)["ce_id"])),
        _headers(ce_id=None),
        _headers(ce_id="text"),
        _headers(ce_type=bytearray(b"livekit.agent.user_input_transcribed")),
        _headers(ce_type=b"livekit.agent.close"),
        _headers(ce_type=b"\xff"),
        _headers(ce_schemaversion=b"1.1"),
        _headers(ce_specversion=b"0.3"),
        _headers(ce_source=b"other"),
        _headers(ce_time=dict(GOOD.headers)["ce_time"].replace(b"Z", b"+00:00")),
        _headers(ce_time=dict(GOOD.headers)["ce_time"].replace(b"Z", b"+01:00")),
        _headers(ce_time=b"\xff"),
        _headers(**{"content-type": b"application/json; charset=utf-8"}),
        _headers(**{"content-type": b"text/plain"}),
    ],
)
def test_headers_are_checked_as_the_reference_does(headers: list[tuple[str, Any]]) -> None:
    expected: Any
    try:
        body = orjson.loads(GOOD.value)
        from schemas.codec import _check_headers

        _check_headers(headers, body)
        expected = decode(GOOD.value, None)
    except DecodeError as exc:
        expected = (exc.reason.value, exc.path)
    assert _outcome(GOOD.value, headers) == expected
    assert check_fast(GOOD.value, headers, REGISTRY) == (_fast_decode(GOOD.value, headers) is not None)


def test_iterator_headers_are_checked_once() -> None:
    bad = _headers(ce_source=b"other")
    with pytest.raises(DecodeError) as info:
        decode(GOOD.value, iter(bad))  # type: ignore[arg-type]
    assert info.value.path == "source"


@pytest.mark.parametrize(
    "time_json",
    [b'"2023-11-14T22:13:20.250000+00:00"', b"1700000000.25", b'"2023-11-14T22:13:20.25Z"', b'"x"'],
)
def test_time_written_otherwise_decodes_as_the_reference(time_json: bytes) -> None:
    body = orjson.loads(GOOD.value)
    body["time"] = "@@T@@"
    value = orjson.dumps(body).replace(b'"@@T@@"', time_json)
    _same_both_ways(value, GOOD.headers)
    headers = [(k, v) for k, v in GOOD.headers if k != "ce_time"]
    _same_both_ways(value, headers)


def test_fast_path_takes_the_common_record() -> None:
    event = _fast_decode(GOOD.value, GOOD.headers)
    assert event is not None
    assert event == decode(GOOD.value, None)
    assert event.model_fields_set == decode(GOOD.value, None).model_fields_set


def test_a_decoded_events_fields_set_is_read_only_and_its_copies_are_plain_sets() -> None:
    event = decode(GOOD.value, GOOD.headers)
    with pytest.raises(TypeError, match="read-only"):
        event.model_fields_set.add("extra")
    copied = event.model_copy(update={"seq": 9})
    assert copied.seq == 9
    assert type(copied.model_fields_set) is set
    copied.model_fields_set.add("extra")
    assert "extra" not in event.model_fields_set
    assert "extra" not in decode(GOOD.value, GOOD.headers).model_fields_set
    assert copy.deepcopy(event) == event
    assert type(copy.deepcopy(event).model_fields_set) is set


STATE = "livekit.agent.user_state_changed"


def test_a_state_change_payload_is_built_once_per_pair_of_states() -> None:
    away = [_record_with(STATE, {"old_state": "listening", "new_state": "away"}) for _ in range(2)]
    back = _record_with(STATE, {"old_state": "away", "new_state": "speaking"})
    first, second = (decode(r.value, r.headers) for r in away)
    other = decode(back.value, back.headers)
    assert first.id != second.id
    assert first.data is second.data  # frozen, so one instance serves every such record
    assert first.data == decode(away[0].value, None).data
    assert other.data is not first.data
    assert isinstance(first.data, UserStateChangedV1)
    assert isinstance(other.data, UserStateChangedV1)
    assert (other.data.old_state, other.data.new_state) == ("away", "speaking")
    with pytest.raises(TypeError, match="read-only"):
        first.data.model_fields_set.discard("new_state")
    changed = first.data.model_copy(update={"new_state": "speaking"})
    assert (first.data.new_state, changed.new_state) == ("away", "speaking")
    assert decode(away[1].value, away[1].headers).data == first.data
    unpickled = pickle.loads(pickle.dumps(first.data))
    assert unpickled == first.data
    assert type(unpickled.model_fields_set) is set


@settings(max_examples=300, deadline=None)
@given(
    mutation=st.sampled_from(
        [
            b"1",
            b"-1",
            b"1.5",
            b"1e400",
            b"NaN",
            b"null",
            b'""',
            b'"x"',
            b"[]",
            b"{}",
            b"true",
            b"99999999999999999999",
        ]
    ),
    index=st.integers(min_value=0, max_value=40),
)
def test_mutated_values_decode_as_the_reference(mutation: bytes, index: int) -> None:
    body = orjson.loads(_record_with(OVERLAP, {"detected_at": 1.0, "num_requests": 2}).value)
    paths = [(k,) for k in body if k != "data"] + [("data", k) for k in body["data"]]
    path = paths[index % len(paths)]
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = "@@M@@"
    value = orjson.dumps(body).replace(b'"@@M@@"', mutation)
    record = _record_with(OVERLAP, {"detected_at": 1.0})
    _same_both_ways(value, record.headers)


def test_plain_converts_nested_models_and_only_those() -> None:
    from pydantic import BaseModel

    from schemas.sdk_mapping.common import plain

    class Inner(BaseModel):
        x: int

    class Outer(BaseModel):
        name: str
        count: int | None
        inner: Inner | None
        either: Inner | str
        items: list[Inner]

    out = plain(Outer(name="n", count=None, inner=Inner(x=1), either=Inner(x=2), items=[Inner(x=3)]))
    assert out["inner"] == {"x": 1}
    assert out["either"] == {"x": 2}
    assert out["items"] == [Inner(x=3)]  # lists are left to the JSON encoder's default
    assert plain(Outer(name="n", count=1, inner=None, either="s", items=[]))["either"] == "s"


def _example(annotation: Any, variant: int, *, minimal: bool) -> Any:
    """A JSON value for ``annotation``: every field set (or only the required ones)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _example(args[0], variant, minimal=minimal)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        return _example(members[variant % len(members)], variant, minimal=minimal)
    if origin is typing.Literal:
        return args[variant % len(args)]
    if origin is list:
        return [_example(args[0], variant, minimal=minimal)]
    if origin is dict:
        return {"k": _example(args[1], variant, minimal=minimal)}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_example(annotation, variant, minimal=minimal)
    by_type: dict[Any, Any] = {
        str: "text",
        int: 7,
        float: 1.5,
        bool: True,
        AwareDatetime: "2026-01-02T03:04:05.000006Z",
        Any: [1, "x", None, 2.5, {"n": True}],
    }
    return by_type[annotation]


def _model_example(model: type[BaseModel], variant: int, *, minimal: bool) -> dict[str, Any]:
    return {
        name: _example(info.annotation, variant, minimal=minimal)
        for name, info in model.model_fields.items()
        if info.is_required() or not minimal or name == "type"  # a union's tag is always written
    }


def _examples() -> list[tuple[str, bytes, list[tuple[str, bytes]]]]:
    out: dict[bytes, tuple[str, bytes, list[tuple[str, bytes]]]] = {}
    for spec in REGISTRY:
        for variant in range(10):  # each member of the widest tagged union (metrics kinds)
            for minimal in (False, True):
                data = _model_example(spec.current.model, variant, minimal=minimal)
                if spec.family is TopicFamily.COMMANDS:
                    record = encode_command(spec.current.model.model_validate(data))  # type: ignore[arg-type]
                else:
                    record = encode_event(spec.event_type, data, CTX, 1, 1_700_000_000.25)
                value = record.value
                if minimal:  # the envelope's optional fields absent too
                    body = orjson.loads(value)
                    for name in ("agent_name", "job_id", "room_name", "room_sid", "participant_identity"):
                        body.pop(name, None)
                    value = orjson.dumps(body)
                body = orjson.loads(value)
                body["id"] = "fixed"  # same example, same value
                value = orjson.dumps(body)
                headers = [(k, b"fixed" if k == "ce_id" else v) for k, v in record.headers]
                out[value] = (spec.event_type, value, headers)
    return list(out.values())


@pytest.mark.parametrize(("type_name", "value", "headers"), _examples())
def test_every_type_takes_the_fast_path_to_the_reference_event(
    type_name: str, value: bytes, headers: list[tuple[str, bytes]]
) -> None:
    reference = decode(value, None)
    fast = _fast_decode(value, headers)
    assert fast is not None, type_name
    assert fast == reference
    assert type(fast) is type(reference)
    # the fields each model was given, at every depth, as pydantic records them
    assert fast.model_dump(exclude_unset=True) == reference.model_dump(exclude_unset=True)
    assert fast.model_dump_json() == reference.model_dump_json()
    assert check_fast(value, headers, REGISTRY)


def test_is_current_event_says_yes_only_for_a_current_valid_record() -> None:
    bad_time = orjson.loads(GOOD.value)
    bad_time["time"] = "x"
    older = orjson.loads(GOOD.value)
    older["schema_version"] = "0.9"
    older_headers = [(k, b"0.9" if k == "ce_schemaversion" else v) for k, v in GOOD.headers]
    records: list[tuple[bytes | None, Any]] = [
        (GOOD.value, GOOD.headers),
        (GOOD.value, None),
        (GOOD.value, ()),
        (None, GOOD.headers),
        (GOOD.value, _headers(ce_source=b"other")),
        (b"not json", GOOD.headers),
        (orjson.dumps(bad_time), GOOD.headers),
        (orjson.dumps(older), older_headers),
    ]
    answers = [is_current_event(v, h) for v, h in records]  # type: ignore[arg-type]
    assert answers == [True] + [False] * 7, "without headers or value, or invalid, or older: decode"
    values, headers = zip(*records, strict=True)
    assert current_events(values, headers) == answers


def test_fast_decoders_can_be_built_ahead_of_the_first_record() -> None:
    registry = Registry()
    for spec in REGISTRY:
        for version in spec.versions:
            registry.register(
                spec.event_type, spec.family, version.model, str(version.version), version.upcast
            )
    assert prepare_fast_decoders(registry) == len(registry.types())
    assert prepare_fast_decoders(registry) == 0, "built once"
    built = dict(registry.fast_decoders)
    assert (
        decode(GOOD.value, GOOD.headers, registry=registry).model_dump()
        == decode(GOOD.value, None).model_dump()
    )
    assert registry.fast_decoders == built, "the first record found its decoder ready"


def test_models_the_fast_path_cannot_mirror_exactly_are_left_to_pydantic() -> None:
    from pydantic import BaseModel as Model
    from pydantic import Field

    from schemas.fast_decode import UnsupportedModelError, _Translator

    class SharedList(Model):
        items: list[int] = [1]

    class Aliased(Model):
        name: str = Field(alias="Name")

    class Either(Model):
        when: int | str

    for model in (SharedList, Aliased):
        with pytest.raises(UnsupportedModelError):
            _Translator().model(model)
    assert _Translator().model(Either).struct is not None, "a union of plain values is read as is"


def test_a_model_of_few_values_shares_one_instance_per_value_as_pydantic_builds_it() -> None:
    import msgspec
    from pydantic import BaseModel as Model
    from pydantic import ConfigDict

    from schemas.fast_decode import _Translator

    class Switch(Model):
        model_config = ConfigDict(frozen=True)
        on: bool
        mode: typing.Literal["auto", "manual"] | None = None

    translation = _Translator().model(Switch)

    def fast(raw: bytes) -> Any:
        return translation.convert(msgspec.json.decode(raw, type=translation.struct))

    for raw in (b'{"on": true}', b'{"on": true, "mode": "auto"}', b'{"on": false, "mode": null}'):
        first, second = fast(raw), fast(raw)
        reference = Switch.model_validate_json(raw)
        assert first is second
        assert first == reference
        assert first.model_fields_set == reference.model_fields_set
        with pytest.raises(TypeError, match="read-only"):
            first.model_fields_set.add("mode")  # shared, so never changed in place
    assert fast(b'{"on": true}') is not fast(b'{"on": true, "mode": null}'), "a field set to its default"
    assert fast(b'{"on": true}').model_fields_set == {"on"}


def test_a_type_without_a_fast_path_is_decoded_by_the_reference_path() -> None:
    from pydantic import Field

    from schemas.fast_decode import NO_FAST_PATH
    from schemas.payloads.base import Payload

    class Aliased(Payload):
        name: str = Field(alias="Name")

    registry = Registry()
    registry.register("test.aliased", TopicFamily.SESSION, Aliased)
    body = orjson.loads(GOOD.value) | {"type": "test.aliased", "data": {"Name": "x"}}
    value, headers = orjson.dumps(body), _headers(ce_type=b"test.aliased")
    for _ in range(2):  # the second time with the type known to have no fast path
        event = decode(value, headers, registry=registry)
        assert event == decode(value, None, registry=registry)
        assert isinstance(event.data, Aliased)
        assert event.data.name == "x"
        assert registry.fast_decoders[b"test.aliased"] is NO_FAST_PATH
        assert not check_fast(value, headers, registry)
        check_record(value, headers, registry=registry)
    unknown = _headers(ce_type=b"test.unknown")
    assert not check_fast(GOOD.value, unknown, registry)
    assert b"test.unknown" not in registry.fast_decoders, "header values of unknown types are not kept"
