"""Handlers chosen by an event payload's class: one dict lookup per event instead of a chain of
isinstance tests, with subclasses served by their nearest registered base."""

from __future__ import annotations

from typing import TypeVar

H = TypeVar("H")


class ByPayloadType(dict[type, H]):
    """``handlers`` by payload class; ``table[kind]`` of an unregistered class is its nearest
    registered base's handler (remembered), or ``default``."""

    def __init__(self, handlers: dict[type, H], default: H) -> None:
        super().__init__(handlers)
        self._default = default

    def __missing__(self, kind: type) -> H:
        handler = next((self[base] for base in kind.__mro__[1:] if base in self), self._default)
        self[kind] = handler
        return handler
