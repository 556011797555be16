"""Helpers shared by the SDK mappers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

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


def plain(model: BaseModel) -> dict[str, Any]:
    """Field values of a simple pydantic model as a dict, nested models included."""
    out = dict(model.__dict__)
    for key, value in out.items():
        if type(value) not in _SCALARS and isinstance(value, BaseModel):
            out[key] = plain(value)
    return out


def class_name(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def exception_info(exc: BaseException) -> dict[str, Any]:
    """An exception as its class and (bounded) message."""
    return {"class_name": class_name(exc), "message": str(exc)[:MAX_EXCEPTION_MESSAGE]}
