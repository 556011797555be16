"""The fast path of ``decode``: one msgspec pass over the record bytes, chosen by headers.

``codec.decode`` reads the value with ``orjson.loads``, checks the headers against the
body, then validates the dict with pydantic. This module does the same work for the
common case, a record of the current version of its type with CloudEvents headers:
the ``ce_type`` and ``ce_schemaversion`` headers pick a msgspec decoder generated from
the event class's pydantic model, which parses and validates the bytes in one pass;
the result is then turned into the same pydantic models without validating again
(as ``BaseModel.model_construct`` does).

``codec.decode`` runs the fast path inline, with the decoders and header reading of this
module; ``check_fast`` runs it without building the models. It never decides a failure:
it gives the event only when the reference path would give an equal one, and otherwise
bails out to the reference path, which raises the precise ``DecodeError``. To guarantee that, the
generated decoders are never more lenient than pydantic's lax mode, and refuse what
``orjson.loads`` would read otherwise:

* integers must fit 64 bits (orjson reads bigger ones as floats), free-form values
  (``Any``) included (typed fields stop at 2**63 - 1: msgspec's bounds are int64);
  msgspec, like orjson, refuses ``NaN``, ``Infinity`` and overflowing float literals;
* unknown fields are refused instead of ignored (they are not validated, so they could
  hold such numbers): records of a newer minor version take the reference path;
* no coercion: a number written as a string, for instance, takes the reference path;
* timestamps are read as text and parsed by pydantic, and the envelope ``time`` is
  compared with the ``ce_time`` header as text (the reference path also accepts the
  same instant written otherwise).
"""

from __future__ import annotations

import functools
import keyword
import operator
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Union

import msgspec
from annotated_types import Ge, MinLen
from pydantic import AwareDatetime, BaseModel, TypeAdapter

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
    Event,
)
from schemas.registry import Registry

_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
_UNSET = msgspec.UNSET
_AWARE = TypeAdapter(AwareDatetime).validator


class UnsupportedModelError(TypeError):
    """A model uses a type this module does not translate (the type then has no fast path)."""


def _json_safe(value: Any) -> Any:
    """Reject integers orjson would have read as floats, anywhere in a free-form value."""
    kind = type(value)
    if kind is int:
        if not _INT64_MIN <= value <= _UINT64_MAX:
            raise ValueError("integer out of 64-bit range")
    elif kind is dict:
        for item in value.values():
            _json_safe(item)
    elif kind is list:
        for item in value:
            _json_safe(item)
    return value


def _aware_datetime(text: str) -> datetime:
    parsed: datetime = _AWARE.validate_python(text)
    return parsed


Convert = Callable[[Any], Any]


@dataclass(slots=True)
class _Field:
    """How one pydantic field is read: its msgspec type, its conversion (None = as is), and the
    checks msgspec leaves to the conversion (None = none), for reading without converting."""

    wire_type: Any
    convert: Convert | None
    check: Convert | None = None
    nullable: Convert | None = None
    """For ``X | None``: the conversion of ``X`` (the generated code tests for None inline)."""
    dispatch: dict[type, Convert] | None = None
    """For a tagged union: the conversion of each member's Struct (looked up inline)."""
    instances: dict[Any, Any] | None = None
    """For an interned model: its instances by Struct (looked up inline, converted on a miss)."""
    item: _Field | None = None
    """For a list: the field of its items (converted in an inline comprehension)."""

    def __post_init__(self) -> None:
        if self.convert is _aware_datetime or self.convert is _json_safe:
            self.check = self.convert


@dataclass(slots=True)
class _Translation:
    struct: type[msgspec.Struct]
    convert: Convert
    check: Convert | None
    instances: dict[Any, Any] | None


class _Translator:
    """Builds msgspec Structs and converters for pydantic models, once per model."""

    def __init__(self) -> None:
        self._done: dict[tuple[type[BaseModel], str | None], _Translation] = {}

    def model(self, model: type[BaseModel], tag_field: str | None = None) -> _Translation:
        key = (model, tag_field)
        found = self._done.get(key)
        if found is None:
            found = self._done[key] = self._build(model, tag_field)
        return found

    def _build(self, model: type[BaseModel], tag_field: str | None) -> _Translation:
        if model.__pydantic_post_init__ or model.__private_attributes__ or model.__pydantic_root_model__:
            raise UnsupportedModelError(f"{model.__name__}: post-init, private attributes or root model")
        if model.model_config.get("extra") not in (None, "ignore"):
            raise UnsupportedModelError(f"{model.__name__}: extra={model.model_config.get('extra')!r}")
        struct_fields: list[tuple[Any, ...]] = []
        plans: list[tuple[str, _Field | None, Any]] = []
        checks: list[tuple[str, Convert, bool]] = []
        tag: str | None = None
        for name, info in model.model_fields.items():
            if info.alias is not None or info.validation_alias is not None:
                raise UnsupportedModelError(f"{model.__name__}.{name}: aliases")
            if not name.isidentifier() or keyword.iskeyword(name):
                raise UnsupportedModelError(f"{model.__name__}.{name}: not an identifier")
            if name == tag_field:
                tag = _single_literal(info.annotation, f"{model.__name__}.{name}")
                plans.append((name, None, _TAG))
                continue
            field = self._annotation(info.annotation, info.metadata, info.discriminator)
            if field.check is not None:
                checks.append((name, field.check, info.is_required()))
            if info.is_required():
                struct_fields.append((name, field.wire_type))
                plans.append((name, field, _REQUIRED))
            else:
                struct_fields.append((name, field.wire_type | msgspec.UnsetType, _UNSET))
                default = info.default_factory if info.default_factory is not None else info.default
                if info.default_factory is not None and info.default_factory_takes_validated_data:
                    raise UnsupportedModelError(f"{model.__name__}.{name}: default factory taking data")
                if info.default_factory is None and type(default) not in _SHARED_DEFAULTS:
                    # pydantic copies such a default for each instance; the converter shares it
                    raise UnsupportedModelError(f"{model.__name__}.{name}: a mutable default")
                plans.append(
                    (name, field, (_FACTORY, default) if info.default_factory else (_VALUE, default))
                )
        values = [name for name, _, how in plans if how is not _TAG]
        interned = bool(model.model_config.get("frozen") and values) and (
            _domain_size(model, values) <= _MAX_INTERNED
        )
        # gc=False: a Struct decoded from JSON holds no reference cycle, so the collector need not track it.
        # frozen: an interned model's Structs are the keys of its instances.
        options: dict[str, Any] = {
            "kw_only": True,
            "forbid_unknown_fields": True,
            "gc": False,
            "frozen": interned,
        }
        if tag_field is not None:
            options.update(tag_field=tag_field, tag=tag)
        struct = msgspec.defstruct(f"Wire{model.__name__}", struct_fields, **options)
        convert = _converter(model, plans, tag)
        if not interned:
            return _Translation(struct, convert, _checker(checks), None)
        instances: dict[Any, Any] = {}
        return _Translation(struct, _interned(convert, instances), _checker(checks), instances)

    def _annotation(self, annotation: Any, metadata: Sequence[Any], discriminator: Any) -> _Field:
        if discriminator is not None:
            if not isinstance(discriminator, str):
                raise UnsupportedModelError(f"callable discriminator on {annotation!r}")
            return self._tagged_union(annotation, discriminator)
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            inner, *extra = typing.get_args(annotation)
            return self._annotated(inner, extra, metadata)
        if origin in (Union, types.UnionType):
            return self._union(typing.get_args(annotation), metadata)
        if metadata:
            return self._constrained(annotation, metadata)
        if annotation in (str, bool, type(None)):
            return _Field(annotation, None)
        if annotation is int:
            return _Field(Annotated[int, msgspec.Meta(ge=_INT64_MIN, le=_INT64_MAX)], None)
        if annotation is float:
            return _Field(float, None)
        if annotation is AwareDatetime:
            return _Field(str, _aware_datetime)
        if annotation is Any:
            return _Field(Any, _json_safe)
        if origin is Literal:
            if not all(type(v) is str for v in typing.get_args(annotation)):
                raise UnsupportedModelError(f"non-text literal {annotation!r}")
            return _Field(annotation, None)
        if origin is list:
            (item,) = typing.get_args(annotation)
            inner = self._annotation(item, (), None)
            wire = list.__class_getitem__(inner.wire_type)
            if inner.convert is None:
                return _Field(wire, None)
            each: Convert = inner.convert
            return _Field(wire, lambda values: [each(v) for v in values], _each(inner.check), item=inner)
        if origin is dict:
            key, item = typing.get_args(annotation)
            if key is not str:
                raise UnsupportedModelError(f"non-text keys {annotation!r}")
            inner = self._annotation(item, (), None)
            wire = dict.__class_getitem__((str, inner.wire_type))
            if inner.convert is None or inner.convert is _json_safe:
                return _Field(wire, inner.convert)
            value_of: Convert = inner.convert
            return _Field(
                wire, lambda values: {k: value_of(v) for k, v in values.items()}, _each_value(inner.check)
            )
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            translation = self.model(annotation)
            return _Field(
                translation.struct, translation.convert, translation.check, instances=translation.instances
            )
        raise UnsupportedModelError(f"type {annotation!r}")

    def _annotated(self, inner: Any, extra: list[Any], metadata: Sequence[Any]) -> _Field:
        discriminator = None
        constraints = list(metadata)
        for item in extra:
            found = getattr(item, "discriminator", None)
            if found is not None:
                discriminator = found
            elif hasattr(item, "metadata") and hasattr(item, "annotation"):  # a FieldInfo
                constraints.extend(item.metadata)
            else:
                constraints.append(item)
        return self._annotation(inner, constraints, discriminator)

    def _union(self, members: tuple[Any, ...], metadata: Sequence[Any]) -> _Field:
        fields = [self._annotation(m, metadata if m is not type(None) else (), None) for m in members]
        wire = functools.reduce(operator.or_, [f.wire_type for f in fields])
        converting = [f.convert for f in fields if f.convert is not None]
        if not converting:
            return _Field(wire, None)
        if len(fields) == 2 and type(None) in members and len(converting) == 1:
            conv = converting[0]
            check = next(f.check for f in fields if f.convert is not None)
            return _Field(
                wire, lambda value: None if value is None else conv(value), _unless_none(check), nullable=conv
            )
        raise UnsupportedModelError(f"union {members!r}")

    def _tagged_union(self, annotation: Any, tag_field: str) -> _Field:
        members = typing.get_args(annotation)
        by_struct: dict[type, Convert] = {}
        checks: dict[type, Convert | None] = {}
        for member in members:
            if not (isinstance(member, type) and issubclass(member, BaseModel)):
                raise UnsupportedModelError(f"tagged union member {member!r}")
            translation = self.model(member, tag_field)
            by_struct[translation.struct] = translation.convert
            checks[translation.struct] = translation.check
        wire = functools.reduce(operator.or_, list(by_struct))
        return _Field(wire, lambda value: by_struct[type(value)](value), _by_type(checks), dispatch=by_struct)

    def _constrained(self, annotation: Any, metadata: Sequence[Any]) -> _Field:
        bounds: dict[str, Any] = {}
        for item in metadata:
            if isinstance(item, MinLen) and annotation is str:
                bounds["min_length"] = item.min_length
            elif isinstance(item, Ge) and annotation is int:
                bounds["ge"] = max(int(item.ge), _INT64_MIN)  # type: ignore[call-overload]
            else:
                raise UnsupportedModelError(f"constraint {item!r} on {annotation!r}")
        if annotation is int:
            bounds.setdefault("ge", _INT64_MIN)
            bounds["le"] = _INT64_MAX
        return _Field(Annotated[annotation, msgspec.Meta(**bounds)], None)


_MAX_INTERNED = 4096
"""The most instances a model of finitely many values may intern."""


def _domain_size(model: type[BaseModel], names: list[str]) -> int:
    """How many distinct records the model's fields can hold, as decoded (a missing optional field
    counts as one more value); a field of unbounded values makes it unbounded."""
    size = 1
    for name in names:
        info = model.model_fields[name]
        size *= _values_of(info.annotation) + (0 if info.is_required() else 1)
    return size


def _values_of(annotation: Any) -> int:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return len(typing.get_args(annotation))
    if origin in (Union, types.UnionType):
        return sum(_values_of(member) for member in typing.get_args(annotation))
    if origin is Annotated:
        return _values_of(typing.get_args(annotation)[0])  # constraints only narrow
    if annotation is bool:
        return 2
    if annotation is type(None):
        return 1
    return _UNBOUNDED


_UNBOUNDED = _MAX_INTERNED + 1


def _interned(convert: Convert, instances: dict[Any, Any]) -> Convert:
    """``convert`` for a frozen model of finitely many values (state changes: a few states each):
    each distinct record is built once and the instance shared, as immutable values can be.
    ``instances`` holds them by frozen Struct (unset fields take part as msgspec's UNSET)."""

    def interned(wire: Any) -> Any:
        found = instances.get(wire)
        if found is None:
            found = instances[wire] = convert(wire)
            if type(found.__pydantic_fields_set__) is not _SharedFieldsSet:  # some fields unset
                _SET_FIELDS_SET(found, _SharedFieldsSet(found.__pydantic_fields_set__))
        return found

    return interned


def _each(check: Convert | None) -> Convert | None:
    if check is None:
        return None
    return lambda values: [check(v) for v in values]


def _each_value(check: Convert | None) -> Convert | None:
    if check is None:
        return None
    return lambda values: [check(v) for v in values.values()]


def _unless_none(check: Convert | None) -> Convert | None:
    if check is None:
        return None
    return lambda value: None if value is None else check(value)


def _by_type(checks: dict[type, Convert | None]) -> Convert | None:
    if all(check is None for check in checks.values()):
        return None
    return lambda value: (checks[type(value)] or _no_check)(value)


def _no_check(value: Any) -> None:
    return None


def _checker(checks: list[tuple[str, Convert, bool]]) -> Convert | None:
    """What a model's fields need checked beyond msgspec (None: nothing), without converting:
    (name, check, required) of each such field. Generated, as the converter is."""
    if not checks:
        return None
    env: dict[str, Any] = {"_UNSET": _UNSET}
    lines = ["def check(s):"]
    for index, (name, check_field, required) in enumerate(checks):
        env[f"k{index}"] = _AWARE.validate_python if check_field is _aware_datetime else check_field
        if required:
            lines.append(f"    k{index}(s.{name})")
        else:
            lines += [
                f"    v{index} = s.{name}",
                f"    if v{index} is not _UNSET:",
                f"        k{index}(v{index})",
            ]
    exec("\n".join(lines), env)  # code generated from the model's own field names
    check: Convert = env["check"]
    return check


_TAG: Any = object()
_REQUIRED: Any = object()
_SHARED_DEFAULTS = frozenset({type(None), bool, int, float, str, bytes})
"""Defaults that instances may share: immutable."""
_FACTORY, _VALUE = "factory", "value"


def _single_literal(annotation: Any, where: str) -> str:
    values = typing.get_args(annotation) if typing.get_origin(annotation) is Literal else ()
    if len(values) != 1 or type(values[0]) is not str:
        raise UnsupportedModelError(f"{where}: a tag must be a single text literal")
    return str(values[0])


class _SharedFieldsSet(set[str]):
    """The fields set of every instance of a frozen model decoded with all its fields: one per
    model, shared (building a set per instance is a tenth of the decode). Read-only; a copy
    (``model_copy`` makes one) is a plain set again.

    Pydantic never changes the fields set of a frozen instance, only of its copies.
    """

    __slots__ = ()

    def _read_only(self, *args: object, **kwargs: object) -> Any:
        raise TypeError("the fields set of a decoded event is read-only; copy it to change it")

    add = discard = remove = pop = clear = update = _read_only
    intersection_update = difference_update = symmetric_difference_update = _read_only
    __ior__ = __iand__ = __isub__ = __ixor__ = _read_only

    def __copy__(self) -> set[str]:
        return set(self)

    def __deepcopy__(self, memo: object) -> set[str]:
        return set(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (set, (list(self),))


_SLOTS = vars(BaseModel)
_SET_DICT = _SLOTS["__dict__"].__set__
_SET_FIELDS_SET = _SLOTS["__pydantic_fields_set__"].__set__
_SET_EXTRA = _SLOTS["__pydantic_extra__"].__set__
_SET_PRIVATE = _SLOTS["__pydantic_private__"].__set__


def _converter(
    model: type[BaseModel], plans: list[tuple[str, _Field | None, Any]], tag: str | None
) -> Convert:
    """Generate the function that turns a decoded Struct into ``model`` unvalidated.

    Generated so that each field costs one attribute read (a loop over the fields would
    cost more than msgspec's whole decode). The fields set is the fields the record
    holds, as pydantic records it; the common case, every field written, takes one test
    (and, for a frozen model, shares one read-only set).
    """
    env: dict[str, Any] = {
        "_new": model.__new__,
        "_cls": model,
        "_set_dict": _SET_DICT,
        "_set_fields_set": _SET_FIELDS_SET,
        "_set_extra": _SET_EXTRA,
        "_set_private": _SET_PRIVATE,
        "_UNSET": _UNSET,
    }
    always = {name for name, _, how in plans if how is _REQUIRED or how is _TAG}
    every = {name for name, _, _ in plans}
    if model.model_config.get("frozen"):
        env["_every"] = _SharedFieldsSet(every)
        every_fields = "_every"
    else:
        every_fields = f"{every!r}" if every else "set()"
    lines = ["def convert(s):"]
    values: list[str] = []
    optional: list[tuple[str, str, str, str | None]] = []
    for index, (name, field, how) in enumerate(plans):
        if how is _TAG:
            values.append(f"{name!r}: {tag!r}")
        elif how is _REQUIRED:
            values.append(f"{name!r}: {_conversion(field, f'c{index}', f's.{name}', env) or f's.{name}'}")
        else:
            kind, default = how
            env[f"d{index}"] = default
            local = f"v{index}"
            lines.append(f"    {local} = s.{name}")
            fallback = f"d{index}()" if kind == _FACTORY else f"d{index}"
            optional.append((name, local, fallback, _conversion(field, f"c{index}", local, env)))
            values.append(f"{name!r}: {local}")
    if optional:
        lines.append(f"    if {' or '.join(f'{local} is _UNSET' for _, local, _, _ in optional)}:")
        lines.append(f"        fs = {always!r}" if always else "        fs = set()")
        for name, local, fallback, converted in optional:
            lines += [f"        if {local} is _UNSET:", f"            {local} = {fallback}", "        else:"]
            lines.append(f"            fs.add({name!r})")
            if converted:
                lines.append(f"            {local} = {converted}")
        lines.append("    else:")
        lines.append(f"        fs = {every_fields}")
        for _, local, _, converted in optional:
            if converted:
                lines.append(f"        {local} = {converted}")
    else:
        lines.append(f"    fs = {every_fields}")
    lines += [
        "    m = _new(_cls)",
        f"    _set_dict(m, {{{', '.join(values)}}})",
        "    _set_fields_set(m, fs)",
        "    _set_extra(m, None)",
        "    _set_private(m, None)",
        "    return m",
    ]
    exec("\n".join(lines), env)  # code generated from the model's own field names
    convert: Convert = env["convert"]
    return convert


def _conversion(field: _Field | None, name: str, value: str, env: dict[str, Any]) -> str | None:
    """The expression converting ``value`` (None: it is used as is); what it calls goes in ``env``
    as ``name``. Unions with None and tagged unions are resolved inline: one call less each."""
    if field is None or field.convert is None:
        return None
    if field.dispatch is not None:
        env[name] = field.dispatch
        return f"{name}[type({value})]({value})"
    if field.instances is not None:
        env[name], env[f"{name}i"] = field.convert, field.instances.get
        return f"({name}i({value}) or {name}({value}))"  # a model instance is true
    if field.item is not None:
        each = f"{name}x"
        return f"[{_conversion(field.item, f'{name}e', each, env)} for {each} in {value}]"
    if field.convert is _json_safe:
        env[name] = _json_safe
        return f"({name}({value}) if {value} else {value})"  # nothing to check in an empty value
    convert = field.convert if field.nullable is None else field.nullable
    # The validator itself rather than its wrapper: one call less per timestamp.
    env[name] = _AWARE.validate_python if convert is _aware_datetime else convert
    if field.nullable is None:
        return f"{name}({value})"
    return f"(None if {value} is None else {name}({value}))"


_TRANSLATOR = _Translator()


@dataclass(frozen=True, slots=True)
class FastDecoder:
    """The msgspec decoder of one event class and the conversion to the class."""

    decode: Convert
    """The msgspec decoder's ``decode``: bytes to the event's Struct."""
    convert: Convert
    check: Convert | None
    version: bytes
    """The ``ce_schemaversion`` header value it reads (its type's current version)."""


def fast_decoder(event_class: type[Event], version: bytes) -> FastDecoder:
    """The fast-path decoder of ``event_class`` for records of ``version``; ``UnsupportedModelError``
    if a field cannot be translated."""
    translation = _TRANSLATOR.model(event_class)
    return FastDecoder(
        msgspec.json.Decoder(translation.struct).decode, translation.convert, translation.check, version
    )


def _no_fast_path(wire: Any) -> Any:
    raise ValueError("no fast path for this type")  # not reached: no header equals its version


NO_FAST_PATH = FastDecoder(_no_fast_path, _no_fast_path, None, object())  # type: ignore[arg-type]
"""The decoder of a type the fast path does not read: no ``ce_schemaversion`` equals its version."""


def fast_decoder_for(registry: Registry, type_raw: Any) -> FastDecoder:
    """The fast decoder of the type these ``ce_type`` header bytes name (``NO_FAST_PATH`` for none),
    built once per registered type and kept in ``registry.fast_decoders``."""
    if type(type_raw) is not bytes:
        return NO_FAST_PATH
    try:
        type_name = type_raw.decode("utf-8")
    except UnicodeDecodeError:
        return NO_FAST_PATH
    spec = registry.get(type_name)
    if spec is None:
        return NO_FAST_PATH  # not kept: the keys would be whatever headers come
    try:
        decoder = fast_decoder(spec.current.event_class, str(spec.current.version).encode())
    except UnsupportedModelError:
        decoder = NO_FAST_PATH
    registry.fast_decoders[type_raw] = decoder
    return decoder


def prepare_fast_decoders(registry: Registry) -> int:
    """Build the fast decoder of every registered type now, so that the first record of a type
    does not wait for it (about a millisecond each); returns how many were built."""
    built = 0
    for spec in registry:
        key = spec.event_type.encode()
        if key not in registry.fast_decoders:
            built += fast_decoder_for(registry, key) is not NO_FAST_PATH
    return built


HEADER_ORDER = (
    HEADER_SPECVERSION,
    HEADER_ID,
    HEADER_TYPE,
    HEADER_SOURCE,
    HEADER_TIME,
    HEADER_CONTENT_TYPE,
    SCHEMA_VERSION_HEADER,
)
"""The headers ``encode_*`` writes, in its order: the case read without a dict."""
SPEC_BYTES = SPEC_VERSION.encode()
CONTENT_TYPE_BYTES = CONTENT_TYPE.encode()


class _Absent:
    """An optional header the record does not carry: it agrees with whatever the body says."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


_ABSENT: Any = _Absent()


def header_values(headers: Sequence[tuple[str, bytes]]) -> tuple[Any, ...]:
    """The seven header values in ``HEADER_ORDER``, whatever the order they come in (an absent one
    is a value equal to anything); ValueError (or TypeError) when the fast path cannot read them:
    a name given twice, no type or schema version header."""
    by_name = dict(headers)
    if len(by_name) != len(headers) or HEADER_TYPE not in by_name or SCHEMA_VERSION_HEADER not in by_name:
        raise ValueError("headers the fast path does not read")
    return tuple(by_name.get(name, _ABSENT) for name in HEADER_ORDER)


def check_fast(value: Any, headers: Sequence[tuple[str, bytes]], registry: Registry) -> bool:
    """True when ``codec.decode`` would return an event for this record, read without building
    its models; False: let ``decode`` decide.

    The fast path of ``codec.decode``, written again here rather than shared: a call level costs
    about 5 % of a decode. The two read headers and body the same way.
    """
    kind = type(headers)
    if kind is not list and kind is not tuple:
        return False  # an iterator would be consumed here and not seen by the reference path
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
            ) = headers
            if (n0, n1, n2, n3, n4, n5, n6) != HEADER_ORDER:
                raise ValueError
        except ValueError:
            spec, id_, type_, source, time, content_type, version = header_values(headers)
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
                if fast.check is not None:
                    fast.check(wire)
                return True
    except (TypeError, ValueError):  # msgspec's and pydantic's errors are ValueErrors
        pass
    return False
