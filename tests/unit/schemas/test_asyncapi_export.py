"""The AsyncAPI document and the schema export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schemas import REGISTRY, asyncapi_document, export_json_schemas, schema_drift


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_asyncapi_document_is_complete_and_resolvable() -> None:
    doc = asyncapi_document()
    assert doc["asyncapi"] == "3.0.0"
    assert set(doc["components"]["messages"]) == set(REGISTRY.types())
    assert set(doc["channels"]) == {"session", "user_state", "room", "commands", "analytics"}
    assert doc["channels"]["user_state"]["messages"].keys() == {"livekit.agent.user_state_changed"}
    assert doc["operations"]["receive_commands"]["action"] == "receive"
    for ref in _refs(doc):
        assert ref.startswith("#/"), ref
        _resolve(doc, ref)


def test_export_writes_every_document(tmp_path: Path) -> None:
    written = export_json_schemas(tmp_path)
    assert tmp_path / "asyncapi.json" in written
    assert len(written) == sum(len(spec.versions) for spec in REGISTRY) + 1  # one per type and version
    assert schema_drift(tmp_path) == []
    assert export_json_schemas(tmp_path) == written
