"""Handlers by payload class: exact classes, subclasses through their nearest base, the default."""

from __future__ import annotations

from consumers.analytics.dispatch import ByPayloadType


class Base:
    pass


class Child(Base):
    pass


class Grandchild(Child):
    pass


class Other:
    pass


def test_a_registered_class_gets_its_own_handler() -> None:
    table = ByPayloadType({Base: "base", Child: "child"}, default="none")
    assert table[Base] == "base"
    assert table[Child] == "child"


def test_a_subclass_gets_its_nearest_registered_base_and_keeps_it() -> None:
    table = ByPayloadType({Base: "base", Child: "child"}, default="none")
    assert table[Grandchild] == "child"
    assert Grandchild in table, "the answer is remembered: one lookup next time"


def test_an_unrelated_class_gets_the_default() -> None:
    table = ByPayloadType({Base: "base"}, default="none")
    assert table[Other] == "none"
    assert table[Base] == "base"
