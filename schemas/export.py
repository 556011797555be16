"""Generate the JSON Schema documents from the models, write them, and find drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from schemas.registry import REGISTRY, Registry, VersionSpec

SCHEMAS_ROOT = Path(__file__).resolve().parent
"""The package directory: committed schemas live in ``json/`` and ``asyncapi.json`` here."""
JSON_DIR = "json"
ASYNCAPI_FILE = "asyncapi.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_id(type_name: str, version: str) -> str:
    """The ``$id`` of one type's schema at one version."""
    return f"urn:lkbus:schema:{type_name}:{version}"


def json_schema(vspec: VersionSpec) -> dict[str, Any]:
    """The JSON Schema of a whole record value (envelope and data) for one type and version."""
    schema = vspec.event_class.model_json_schema()
    version = str(vspec.version)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id(vspec.event_type, version),
        **schema,
        "title": f"{vspec.event_type} {version}",
    }


def relative_path(vspec: VersionSpec) -> Path:
    """Where the schema of ``vspec`` is committed, relative to the schemas root."""
    return Path(JSON_DIR) / vspec.event_type / f"v{vspec.version}.json"


def render(document: dict[str, Any]) -> bytes:
    """Stable, diff-friendly JSON text of a generated document."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def generated_documents(registry: Registry = REGISTRY) -> dict[Path, bytes]:
    """Every committed document as it should read: relative path to content."""
    from schemas.asyncapi import asyncapi_document

    docs = {relative_path(vspec): render(json_schema(vspec)) for spec in registry for vspec in spec.versions}
    docs[Path(ASYNCAPI_FILE)] = render(asyncapi_document(registry))
    return docs


def export_json_schemas(dest: Path = SCHEMAS_ROOT, registry: Registry = REGISTRY) -> list[Path]:
    """Write every JSON Schema (``json/<type>/v<version>.json``) and ``asyncapi.json`` under ``dest``.

    Returns the files written. Files of versions no longer registered are left alone.
    """
    written: list[Path] = []
    for rel, content in sorted(generated_documents(registry).items()):
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)
        written.append(path)
    return written


def schema_drift(root: Path = SCHEMAS_ROOT, registry: Registry = REGISTRY) -> list[str]:
    """Differences between the committed documents under ``root`` and the models.

    An empty list means no drift. Lists missing files, changed files and committed
    schema files of versions the registry does not know.
    """
    expected = generated_documents(registry)
    problems: list[str] = []
    for rel, content in sorted(expected.items()):
        path = root / rel
        if not path.exists():
            problems.append(f"{rel}: missing (run `lkbus schemas export`)")
        elif path.read_bytes() != content:
            problems.append(f"{rel}: differs from the models (a published version is never edited)")
    json_root = root / JSON_DIR
    if json_root.exists():
        for path in sorted(json_root.rglob("*.json")):
            rel = path.relative_to(root)
            if rel not in expected:
                problems.append(f"{rel}: committed but not registered")
    return problems


def committed_schemas(root: Path = SCHEMAS_ROOT) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Committed JSON Schemas per type, as (version, document), oldest version first."""
    from schemas.registry import SchemaVersion

    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    json_root = root / JSON_DIR
    for type_dir in sorted(p for p in json_root.iterdir() if p.is_dir()):
        versions: list[tuple[SchemaVersion, dict[str, Any]]] = []
        for path in type_dir.glob("v*.json"):
            version = SchemaVersion.parse(path.stem[1:])
            versions.append((version, orjson.loads(path.read_bytes())))
        versions.sort(key=lambda item: item[0])
        out[type_dir.name] = [(str(v), doc) for v, doc in versions]
    return out
