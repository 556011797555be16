"""JSON Schema compatibility in the Schema Registry modes BACKWARD, FORWARD and FULL.

A reader schema is compatible with a writer schema when every value the writer
accepts is accepted by the reader. BACKWARD: the new schema reads data of the old
one. FORWARD: the old schema reads data of the new one. FULL: both. The check is
conservative: a keyword it cannot compare is reported rather than assumed safe.

The project's policy is BACKWARD between consecutive versions of a type; with the
closed content models we publish, that allows adding optional fields and widening
types, and forbids removing fields, adding required ones or narrowing types.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from schemas.exceptions import SchemaError


class CompatibilityMode(StrEnum):
    BACKWARD = "BACKWARD"
    FORWARD = "FORWARD"
    FULL = "FULL"


POLICY = CompatibilityMode.BACKWARD
"""The mode every new version of a type must satisfy against its predecessor."""


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One reason a reader cannot read a writer's data."""

    kind: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '#'}: {self.kind}: {self.message}"


_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "discriminator",
        "$comment",
        "format",
        "$schema",
        "$id",
        "$defs",
        "definitions",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
_UNDERSTOOD = _ANNOTATIONS | {
    "$ref",
    "type",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxLength",
    "minLength",
    "pattern",
    "maximum",
    "minimum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "multipleOf",
}
_UPPER = {"maximum": "maximum", "exclusiveMaximum": "maximum_exclusive", "maxLength": "max_length"}
_LOWER = {"minimum": "minimum", "exclusiveMinimum": "minimum_exclusive", "minLength": "min_length"}
_UPPER_ITEMS = {"maxItems": "max_items"}
_LOWER_ITEMS = {"minItems": "min_items"}


def _is_any(schema: Any) -> bool:
    return schema is True or (isinstance(schema, Mapping) and not (set(schema) - _ANNOTATIONS))


def _types(schema: Mapping[str, Any]) -> set[str] | None:
    t = schema.get("type")
    if t is None:
        return None
    return {t} if isinstance(t, str) else set(t)


def _values(schema: Mapping[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(writer_type: str, reader_types: set[str]) -> bool:
    return writer_type in reader_types or (writer_type == "integer" and "number" in reader_types)


class _Checker:
    def __init__(self, reader_root: Mapping[str, Any], writer_root: Mapping[str, Any]) -> None:
        self.reader_root = reader_root
        self.writer_root = writer_root
        self._seen: set[tuple[int, int]] = set()

    def _deref(self, schema: Any, root: Mapping[str, Any]) -> Any:
        hops = 0
        while isinstance(schema, Mapping) and "$ref" in schema:
            ref = schema["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#"):
                raise SchemaError(f"only local $ref are supported, got {ref!r}")
            target: Any = root
            for part in ref[1:].split("/")[1:]:
                target = target[part.replace("~1", "/").replace("~0", "~")]
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest} if rest else target
            hops += 1
            if hops > 64:
                raise SchemaError(f"$ref loop at {ref}")
        return schema

    def check(self, reader: Any, writer: Any, path: str) -> list[Incompatibility]:
        reader = self._deref(reader, self.reader_root)
        writer = self._deref(writer, self.writer_root)
        if _is_any(reader) or writer is False:
            return []
        if reader is False:
            return [Incompatibility("schema_removed", path, "reader accepts nothing")]
        if _is_any(writer):
            return [Incompatibility("type_narrowed", path, "writer accepts anything, reader does not")]
        key = (id(reader), id(writer))
        if key in self._seen:
            return []
        self._seen.add(key)
        try:
            return self._check(reader, writer, path)
        finally:
            self._seen.discard(key)

    def _check(self, r: Mapping[str, Any], w: Mapping[str, Any], path: str) -> list[Incompatibility]:
        for combiner in ("allOf",):
            for side, name in ((r, "reader"), (w, "writer")):
                if combiner in side and len(side[combiner]) != 1:
                    return [Incompatibility("unsupported_keyword", path, f"{name} uses allOf")]
        if "allOf" in w:
            rest = {k: v for k, v in w.items() if k != "allOf"}
            return self.check(r, {**self._deref(w["allOf"][0], self.writer_root), **rest}, path)
        if "allOf" in r:
            rest = {k: v for k, v in r.items() if k != "allOf"}
            return self.check({**self._deref(r["allOf"][0], self.reader_root), **rest}, w, path)
        for sum_key in ("anyOf", "oneOf"):
            if sum_key in w:
                rest = {k: v for k, v in w.items() if k != sum_key}
                issues: list[Incompatibility] = []
                for branch in w[sum_key]:
                    merged = {**self._deref(branch, self.writer_root), **rest}
                    issues += self.check(r, merged, path)
                return issues
        for sum_key in ("anyOf", "oneOf"):
            if sum_key in r:
                rest = {k: v for k, v in r.items() if k != sum_key}
                best: list[Incompatibility] | None = None
                for branch in r[sum_key]:
                    merged = {**self._deref(branch, self.reader_root), **rest}
                    found = self.check(merged, w, path)
                    if not found:
                        return []
                    if best is None or len(found) < len(best):
                        best = found
                return [
                    Incompatibility(
                        "sum_type_narrowed", path, "no reader alternative accepts the writer's values"
                    ),
                    *(best or []),
                ]
        unknown = (set(r) | set(w)) - _UNDERSTOOD
        for kw in sorted(unknown):
            if r.get(kw) != w.get(kw):
                return [Incompatibility("unsupported_keyword", path, f"cannot compare keyword {kw!r}")]
        issues = self._check_types(r, w, path)
        if issues:
            return issues
        issues += self._check_bounds(r, w, path)
        issues += self._check_object(r, w, path)
        issues += self._check_array(r, w, path)
        return issues

    def _check_types(self, r: Mapping[str, Any], w: Mapping[str, Any], path: str) -> list[Incompatibility]:
        r_types, w_types = _types(r), _types(w)
        r_vals, w_vals = _values(r), _values(w)
        if w_vals is not None:
            if r_vals is not None:
                missing = [v for v in w_vals if v not in r_vals]
                if missing:
                    return [Incompatibility("enum_array_narrowed", path, "reader lost allowed values")]
            if r_types is not None and any(not _type_ok(_json_type(v), r_types) for v in w_vals):
                return [Incompatibility("type_changed", path, "writer values have a type the reader refuses")]
            return []
        if r_vals is not None:
            return [Incompatibility("enum_added", path, "reader restricts values the writer does not")]
        if r_types is None:
            return []
        if w_types is None:
            return [Incompatibility("type_narrowed", path, f"reader only accepts {sorted(r_types)}")]
        bad = sorted(t for t in w_types if not _type_ok(t, r_types))
        if not bad:
            return []
        if len(bad) == len(w_types):
            return [Incompatibility("type_changed", path, f"{sorted(w_types)} -> {sorted(r_types)}")]
        return [Incompatibility("type_narrowed", path, f"reader refuses {bad}")]

    def _check_bounds(self, r: Mapping[str, Any], w: Mapping[str, Any], path: str) -> list[Incompatibility]:
        issues: list[Incompatibility] = []
        for table, tighter in ((_UPPER | _UPPER_ITEMS, min), (_LOWER | _LOWER_ITEMS, max)):
            for kw, label in table.items():
                if kw not in r:
                    continue
                if kw not in w:
                    issues.append(Incompatibility(f"{label}_added", path, f"reader adds {kw}"))
                elif tighter(r[kw], w[kw]) != w[kw]:
                    change = "decreased" if tighter is min else "increased"
                    issues.append(Incompatibility(f"{label}_{change}", path, f"{kw} {w[kw]} -> {r[kw]}"))
        if "pattern" in r and r.get("pattern") != w.get("pattern"):
            kind = "pattern_changed" if "pattern" in w else "pattern_added"
            issues.append(Incompatibility(kind, path, "reader pattern differs"))
        if "multipleOf" in r:
            wm, rm = w.get("multipleOf"), r["multipleOf"]
            if wm is None or (wm / rm) != int(wm / rm):
                issues.append(Incompatibility("multiple_changed", path, "multipleOf is stricter"))
        if r.get("uniqueItems") and not w.get("uniqueItems"):
            issues.append(Incompatibility("unique_items_added", path, "reader requires unique items"))
        return issues

    def _check_object(self, r: Mapping[str, Any], w: Mapping[str, Any], path: str) -> list[Incompatibility]:
        object_keys = ("properties", "required", "additionalProperties")
        if not any(k in r for k in object_keys) and not any(k in w for k in object_keys):
            return []
        issues: list[Incompatibility] = []
        r_props: Mapping[str, Any] = r.get("properties", {})
        w_props: Mapping[str, Any] = w.get("properties", {})
        r_add = r.get("additionalProperties", True)
        w_add = w.get("additionalProperties", True)
        r_req = set(r.get("required", ()))
        w_req = set(w.get("required", ()))
        for name, r_sub in r_props.items():
            sub_path = f"{path}/properties/{name}"
            if name in w_props:
                issues += self.check(r_sub, w_props[name], sub_path)
                if name in r_req and name not in w_req:
                    issues.append(
                        Incompatibility("required_attribute_added", sub_path, "now required, was optional")
                    )
                continue
            if name in r_req:
                kind = (
                    "required_property_added_to_unopen_content_model"
                    if w_add is not True
                    else "required_attribute_added"
                )
                issues.append(Incompatibility(kind, sub_path, "required but the writer never sends it"))
                continue
            if w_add is False:
                continue
            if isinstance(w_add, Mapping) and not _is_any(w_add):
                if self.check(r_sub, w_add, sub_path):
                    issues.append(
                        Incompatibility(
                            "property_added_not_covered_by_partially_open_content_model",
                            sub_path,
                            "writer's additionalProperties may not fit the new property",
                        )
                    )
            elif not _is_any(r_sub):
                issues.append(
                    Incompatibility(
                        "property_added_to_open_content_model",
                        sub_path,
                        "writer's open content model may already carry this name with any value",
                    )
                )
        for name, w_sub in w_props.items():
            if name in r_props:
                continue
            sub_path = f"{path}/properties/{name}"
            if r_add is False:
                issues.append(
                    Incompatibility(
                        "property_removed_from_closed_content_model", sub_path, "reader refuses this property"
                    )
                )
            elif isinstance(r_add, Mapping) and self.check(r_add, w_sub, sub_path):
                issues.append(
                    Incompatibility(
                        "property_removed_not_covered_by_partially_open_content_model",
                        sub_path,
                        "reader's additionalProperties does not accept this property",
                    )
                )
        if r_add is not True and not _is_any(r_add) and w_add is not False:
            if w_add is True or _is_any(w_add):
                issues.append(
                    Incompatibility(
                        "additional_properties_narrowed", path, "reader restricts additional properties"
                    )
                )
            elif r_add is not False:
                issues += self.check(r_add, w_add, f"{path}/additionalProperties")
            else:
                issues.append(
                    Incompatibility(
                        "additional_properties_narrowed", path, "reader refuses additional properties"
                    )
                )
        return issues

    def _check_array(self, r: Mapping[str, Any], w: Mapping[str, Any], path: str) -> list[Incompatibility]:
        if "items" not in r:
            return []
        return self.check(r["items"], w.get("items", True), f"{path}/items")


def check_compatibility(
    new: Mapping[str, Any],
    old: Mapping[str, Any],
    mode: CompatibilityMode = POLICY,
) -> list[Incompatibility]:
    """Incompatibilities of schema ``new`` against its predecessor ``old`` under ``mode``.

    An empty list means compatible.
    """
    issues: list[Incompatibility] = []
    if mode in (CompatibilityMode.BACKWARD, CompatibilityMode.FULL):
        issues += _Checker(new, old).check(new, old, "")
    if mode in (CompatibilityMode.FORWARD, CompatibilityMode.FULL):
        issues += _Checker(old, new).check(old, new, "")
    return issues


def _same_version_marker(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """``new`` with ``old``'s envelope ``schema_version``: each version's schema pins its own
    number, which differs between any two versions by design (``decode`` reads each record with
    its own version's model, then upcasts)."""
    old_marker = old.get("properties", {}).get("schema_version")
    if old_marker is None or "schema_version" not in new.get("properties", {}):
        return new
    return {**new, "properties": {**new["properties"], "schema_version": old_marker}}


def check_committed_schemas(
    root: Path | None = None, mode: CompatibilityMode = POLICY
) -> dict[str, list[Incompatibility]]:
    """Check every committed version of every type against its predecessor.

    Returns ``{"<type> <old> -> <new>": [issues]}`` for the failing pairs only; a new
    major version is exempt (it is a breaking change by definition, read via an upcaster).
    """
    from schemas.export import SCHEMAS_ROOT, committed_schemas
    from schemas.registry import SchemaVersion

    failures: dict[str, list[Incompatibility]] = {}
    for type_name, versions in committed_schemas(root or SCHEMAS_ROOT).items():
        for (old_v, old), (new_v, new) in itertools.pairwise(versions):
            if SchemaVersion.parse(old_v).major != SchemaVersion.parse(new_v).major:
                continue
            issues = check_compatibility(_same_version_marker(new, old), old, mode)
            if issues:
                failures[f"{type_name} {old_v} -> {new_v}"] = issues
    return failures
