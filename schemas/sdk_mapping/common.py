"""Helpers shared by the SDK mappers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

TextTransform = Callable[[str], str | None]
"""Applied to transcript and message text; a None result drops the text."""

MAX_EXCEPTION_MESSAGE = 2000


def enum_names(items: Iterable[tuple[str, int]], prefix: str) -> dict[int, str]:
    """Map proto enum numbers to lower-case names without ``prefix``."""
    return {number: name.removeprefix(prefix).lower() for name, number in items}


def enum_name(names: dict[int, str], value: int) -> str:
    """The wire name of ``value``; ``unknown_<n>`` for a value this version does not know."""
    name = names.get(value)
    return name if name is not None else f"unknown_{int(value)}"


_SCALARS = frozenset({str, int, float, bool, type(None)})
"""Exact types that are never models: skip the (slow, ABC) ``isinstance`` check."""


def _may_hold_model(annotation: object) -> bool:
    """False when a field's annotation rules out a pydantic model value."""
    if annotation in _SCALARS:
        return False
    origin = get_origin(annotation)
    if origin is Literal:
        return False
    if origin is Union or origin is UnionType:
        return any(_may_hold_model(arg) for arg in get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, str | int | float):
        return issubclass(annotation, BaseModel)
    return True


_MODEL_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {}
"""Model class to the names of its fields that may hold a nested model."""


def _model_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    names = _MODEL_FIELDS.get(cls)
    if names is None:
        names = tuple(name for name, field in cls.model_fields.items() if _may_hold_model(field.annotation))
        if len(_MODEL_FIELDS) < 1024:
            _MODEL_FIELDS[cls] = names
    return names


def plain(model: BaseModel) -> dict[str, Any]:
    """Field values of a simple pydantic model as a dict, nested models included."""
    out = dict(model.__dict__)
    for key in _model_fields(type(model)):
        value = out.get(key)
        if type(value) not in _SCALARS and isinstance(value, BaseModel):
            out[key] = plain(value)
    return out


def class_name(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def exception_info(exc: BaseException) -> dict[str, Any]:
    """An exception as its class and (bounded) message."""
    return {"class_name": class_name(exc), "message": str(exc)[:MAX_EXCEPTION_MESSAGE]}
