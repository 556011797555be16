"""The compatibility checker on a table of schema pairs, and the committed schemas under the policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas import POLICY, CompatibilityMode, check_committed_schemas, check_compatibility, schema_drift
from schemas.export import SCHEMAS_ROOT

B, F, FULL = CompatibilityMode.BACKWARD, CompatibilityMode.FORWARD, CompatibilityMode.FULL


def obj(props: dict[str, Any], required: list[str] | None = None, closed: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": required or []}
    if closed:
        schema["additionalProperties"] = False
    return schema


S, INT, N = {"type": "string"}, {"type": "integer"}, {"type": "number"}
NULLABLE_S = {"anyOf": [S, {"type": "null"}], "default": None}

# (name, new, old, mode, compatible)
PAIRS: list[tuple[str, dict[str, Any], dict[str, Any], CompatibilityMode, bool]] = [
    ("identical", obj({"a": S}, ["a"]), obj({"a": S}, ["a"]), FULL, True),
    ("add optional field, closed", obj({"a": S, "b": NULLABLE_S}, ["a"]), obj({"a": S}, ["a"]), B, True),
    (
        "add optional field, closed, forward",
        obj({"a": S, "b": NULLABLE_S}, ["a"]),
        obj({"a": S}, ["a"]),
        F,
        False,
    ),
    ("add optional field, open", obj({"a": S, "b": S}, closed=False), obj({"a": S}, closed=False), B, False),
    (
        "add optional field, open, forward",
        obj({"a": S, "b": S}, closed=False),
        obj({"a": S}, closed=False),
        F,
        True,
    ),
    ("add required field", obj({"a": S, "b": S}, ["a", "b"]), obj({"a": S}, ["a"]), B, False),
    ("make field required", obj({"a": S}, ["a"]), obj({"a": S}), B, False),
    ("make field optional", obj({"a": S}), obj({"a": S}, ["a"]), B, True),
    ("make field optional, forward", obj({"a": S}), obj({"a": S}, ["a"]), F, False),
    ("remove field from closed", obj({}), obj({"a": S}), B, False),
    ("remove field from open", obj({}, closed=False), obj({"a": S}, closed=False), B, True),
    ("widen integer to number", obj({"a": N}), obj({"a": INT}), B, True),
    ("narrow number to integer", obj({"a": INT}), obj({"a": N}), B, False),
    ("change type", obj({"a": S}), obj({"a": INT}), B, False),
    ("make nullable", obj({"a": NULLABLE_S}), obj({"a": S}), B, True),
    ("drop nullable", obj({"a": S}), obj({"a": NULLABLE_S}), B, False),
    ("add enum value", {"enum": ["a", "b", "c"]}, {"enum": ["a", "b"]}, B, True),
    ("remove enum value", {"enum": ["a"]}, {"enum": ["a", "b"]}, B, False),
    ("const to enum", {"enum": ["x", "y"]}, {"const": "x"}, B, True),
    ("restrict to enum", {"type": "string", "enum": ["x"]}, S, B, False),
    ("add maxLength", {**S, "maxLength": 5}, S, B, False),
    ("raise maxLength", {**S, "maxLength": 9}, {**S, "maxLength": 5}, B, True),
    ("lower maxLength", {**S, "maxLength": 3}, {**S, "maxLength": 5}, B, False),
    ("raise minimum", {**INT, "minimum": 2}, {**INT, "minimum": 1}, B, False),
    ("lower minimum", {**INT, "minimum": 0}, {**INT, "minimum": 1}, B, True),
    ("drop minimum", INT, {**INT, "minimum": 1}, FULL, False),
    ("add pattern", {**S, "pattern": "^a"}, S, B, False),
    ("array items widened", {"type": "array", "items": N}, {"type": "array", "items": INT}, B, True),
    ("array items narrowed", {"type": "array", "items": INT}, {"type": "array", "items": N}, B, False),
    ("add union branch", {"oneOf": [S, INT]}, S, B, True),
    ("remove union branch", S, {"oneOf": [S, INT]}, B, False),
    ("nested field removed", obj({"x": obj({})}), obj({"x": obj({"a": S})}), B, False),
    ("nested optional added", obj({"x": obj({"a": S, "b": NULLABLE_S})}), obj({"x": obj({"a": S})}), B, True),
    (
        "ref resolution",
        {"$defs": {"M": obj({"a": N})}, "type": "object", "properties": {"m": {"$ref": "#/$defs/M"}}},
        {"$defs": {"M": obj({"a": INT})}, "type": "object", "properties": {"m": {"$ref": "#/$defs/M"}}},
        B,
        True,
    ),
    ("anything to empty", {}, obj({"a": S}, ["a"]), B, True),
    ("empty to anything", obj({"a": S}), {}, B, False),
    ("annotations only", {**S, "description": "new", "title": "T"}, S, FULL, True),
    ("open to closed", obj({"a": S}), obj({"a": S}, closed=False), B, False),
    ("closed to open", obj({"a": S}, closed=False), obj({"a": S}), B, True),
]


@pytest.mark.parametrize(
    ("new", "old", "mode", "compatible"), [p[1:] for p in PAIRS], ids=[p[0] for p in PAIRS]
)
def test_pair(new: dict[str, Any], old: dict[str, Any], mode: CompatibilityMode, compatible: bool) -> None:
    issues = check_compatibility(new, old, mode)
    assert (not issues) is compatible, [str(i) for i in issues]


def test_full_is_backward_and_forward() -> None:
    new, old = obj({"a": S, "b": NULLABLE_S}), obj({"a": S})
    full = check_compatibility(new, old, FULL)
    assert len(full) == len(check_compatibility(new, old, B)) + len(check_compatibility(new, old, F))


def test_policy_is_backward() -> None:
    assert POLICY is CompatibilityMode.BACKWARD


def test_committed_versions_follow_the_policy() -> None:
    assert check_committed_schemas(SCHEMAS_ROOT) == {}


def test_policy_catches_a_breaking_edit(tmp_path: Any) -> None:
    import shutil

    import orjson

    shutil.copytree(SCHEMAS_ROOT / "json", tmp_path / "json")
    type_dir = tmp_path / "json" / "livekit.agent.speech_created"
    v1 = orjson.loads((type_dir / "v1.0.json").read_bytes())
    v1["properties"]["data"] = {"$ref": "#/$defs/Broken"}
    v1["$defs"]["Broken"] = {"type": "object", "properties": {}, "additionalProperties": False}
    (type_dir / "v1.1.json").write_bytes(orjson.dumps(v1))
    failures = check_committed_schemas(tmp_path)
    assert list(failures) == ["livekit.agent.speech_created 1.0 -> 1.1"]


def test_committed_documents_match_the_models() -> None:
    assert schema_drift() == []


def test_drift_is_detected(tmp_path: Any) -> None:
    import shutil

    shutil.copytree(SCHEMAS_ROOT / "json", tmp_path / "json")
    (tmp_path / "asyncapi.json").write_bytes((SCHEMAS_ROOT / "asyncapi.json").read_bytes())
    path = tmp_path / "json" / "livekit.agent.close" / "v1.0.json"
    path.write_bytes(path.read_bytes().replace(b"job_shutdown", b"shutdown"))
    (tmp_path / "json" / "livekit.agent.close" / "v9.0.json").write_bytes(b"{}")
    problems = schema_drift(tmp_path)
    assert len(problems) == 2
    assert "differs" in problems[0]
    assert "not registered" in problems[1]


def test_a_new_version_is_checked_on_its_data_not_on_the_version_it_names(tmp_path: Path) -> None:
    import shutil

    name = "livekit.room.sip_dtmf_received"
    folder = tmp_path / "json" / name
    shutil.copytree(SCHEMAS_ROOT / "json" / name, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["v1.0.json", "v1.1.json"]
    assert check_committed_schemas(tmp_path) == {}, "1.1 widens code and digit to nullable"

    newer = orjson.loads((folder / "v1.1.json").read_bytes())
    digit = newer["$defs"]["SipDtmfReceivedV1_1"]["properties"]["digit"]
    digit.clear()
    digit["type"] = "integer"  # a change old records would break
    (folder / "v1.1.json").write_bytes(orjson.dumps(newer))
    failures = check_committed_schemas(tmp_path)
    assert list(failures) == [f"{name} 1.0 -> 1.1"]
    assert all("schema_version" not in issue.path for issue in failures[f"{name} 1.0 -> 1.1"])
