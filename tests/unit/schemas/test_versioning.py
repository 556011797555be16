"""Older versions are upcast to the current one; the registry refuses unsafe registrations."""

from __future__ import annotations

import orjson
import pytest

from schemas import DecodeError, DecodeReason, Payload, Registry, RegistryError, TopicFamily, decode


class ThingV1(Payload):
    count: int


class ThingV1_1(Payload):  # noqa: N801 - version in the name
    count: int
    label: str = "none"


class ThingV2(Payload):
    total: int
    label: str


def _v2_from_v1_1(previous: Payload) -> Payload:
    assert isinstance(previous, ThingV1_1)
    return ThingV2(total=previous.count, label=previous.label)


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.register("test.thing", TopicFamily.SESSION, ThingV1, "1.0")
    reg.register("test.thing", TopicFamily.SESSION, ThingV1_1, "1.1")
    reg.register("test.thing", TopicFamily.SESSION, ThingV2, "2.0", upcast=_v2_from_v1_1)
    return reg


def _record(version: str, data: dict[str, object]) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": "id-1",
            "type": "test.thing",
            "source": "test",
            "time": "2026-01-01T00:00:00Z",
            "schema_version": version,
            "session_id": "s",
            "seq": 4,
            "data": data,
        }
    )


@pytest.mark.parametrize(
    ("version", "data", "expected"),
    [
        ("1.0", {"count": 3}, ThingV2(total=3, label="none")),
        ("1.1", {"count": 3, "label": "x"}, ThingV2(total=3, label="x")),
        ("1.4", {"count": 3, "label": "x", "later": True}, ThingV2(total=3, label="x")),
        ("2.0", {"total": 5, "label": "y"}, ThingV2(total=5, label="y")),
        ("2.3", {"total": 5, "label": "y", "later": 1}, ThingV2(total=5, label="y")),
    ],
)
def test_upcast_to_current(
    registry: Registry, version: str, data: dict[str, object], expected: ThingV2
) -> None:
    event = decode(_record(version, data), None, registry=registry)
    assert event.data == expected
    assert event.schema_version == "2.0"
    assert (event.id, event.seq, event.session_id) == ("id-1", 4, "s")


@pytest.mark.parametrize("version", ["3.0", "0.1", "1.0.1", "01.0"])
def test_unknown_versions_are_unsupported(registry: Registry, version: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(_record(version, {"count": 1}), None, registry=registry)
    assert info.value.reason is DecodeReason.UNSUPPORTED_VERSION


def test_old_version_is_validated_with_its_own_model(registry: Registry) -> None:
    with pytest.raises(DecodeError) as info:
        decode(_record("1.0", {"total": 1}), None, registry=registry)
    assert (info.value.reason, info.value.path) == (DecodeReason.MISSING_FIELD, "data.count")


def test_registry_rules(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="not newer"):
        registry.register("test.thing", TopicFamily.SESSION, ThingV2, "1.5")
    with pytest.raises(RegistryError, match="upcaster"):
        registry.register("test.thing", TopicFamily.SESSION, ThingV2, "3.0")
    with pytest.raises(RegistryError, match="family"):
        registry.register("test.thing", TopicFamily.ROOM, ThingV2, "2.1")
    with pytest.raises(RegistryError, match="first version"):
        registry.register("test.other", TopicFamily.ROOM, ThingV2, "1.0", upcast=_v2_from_v1_1)
