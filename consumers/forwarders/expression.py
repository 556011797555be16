"""A tiny, safe filter language over events: `type == "livekit.agent.close" and agent_name in ["sales"]`.

Grammar (keywords are lowercase)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := operand [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in" | "matches") operand]
    operand    := "(" expr ")" | list | string | number | "true" | "false" | "null" | field
    list       := "[" [literal ("," literal)* [","]] "]"
    field      := an envelope field (type, id, source, time, session_id, agent_name, room_name,
                  room_sid, job_id, participant_identity, seq, schema_version, specversion)
                  or a payload path (data.reason, data.new_state, data.error.code)

Semantics: no coercion (`seq == "3"` is false); `<`, `>` compare two numbers or two strings,
anything else is false; `in` tests membership in a list (or a substring of a string);
`matches` takes a glob string literal (`type matches "livekit.room.*"`); a missing field is
null; an operand alone counts as true when it is truthy.

The text is tokenised and parsed by hand into closures: nothing is ever passed to `eval`,
names cannot reach attributes other than declared fields, and the size of the text, the
nesting depth and the length of literals are bounded. Every problem raises one
`FilterError` saying where and what.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import translate
from typing import Any

from consumers.forwarders.exceptions import FilterError
from consumers.forwarders.fields import check_path, resolve
from schemas import Event

MAX_LENGTH = 2000
MAX_DEPTH = 16
MAX_LIST_ITEMS = 256
MAX_STRING = 512
MAX_NUMBER = 24

Getter = Callable[[Event], Any]

KEYWORDS = frozenset({"and", "or", "not", "in", "matches", "true", "false", "null"})
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_OPERATOR = re.compile(r"==|!=|<=|>=|<|>")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    """name, string, number, op, punct (one of ( ) [ ] ,) or end."""
    text: str
    value: Any
    pos: int


class FilterExpression:
    """A compiled filter: call it with an event to know whether the event passes."""

    def __init__(self, source: str, predicate: Getter, fields: frozenset[str]) -> None:
        self.source = source
        self.fields = fields
        """The field paths the expression reads."""
        self._predicate = predicate

    def __call__(self, event: Event) -> bool:
        return _truthy(self._predicate(event))

    def __repr__(self) -> str:
        return f"FilterExpression({self.source!r})"


def compile_filter(text: str) -> FilterExpression:
    """Parse `text`; a malformed, oversized or unknown-field expression raises `FilterError`."""
    if not isinstance(text, str):
        raise FilterError("filter expression must be text")
    if len(text) > MAX_LENGTH:
        raise FilterError(f"filter expression is longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise FilterError("filter expression is empty")
    parser = _Parser(text, _tokenize(text))
    predicate = parser.parse()
    return FilterExpression(text, predicate, frozenset(parser.fields))


def _error(text: str, pos: int, message: str) -> FilterError:
    return FilterError(f"filter expression, column {pos + 1}: {message}")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch in "()[],":
            tokens.append(_Token("punct", ch, ch, i))
            i += 1
            continue
        if ch in "\"'":
            value, end = _read_string(text, i)
            tokens.append(_Token("string", text[i:end], value, i))
            i = end
            continue
        m = _OPERATOR.match(text, i)
        if m:
            tokens.append(_Token("op", m.group(), m.group(), i))
            i = m.end()
            continue
        m = _NUMBER.match(text, i)
        if m:
            literal = m.group()
            if len(literal) > MAX_NUMBER:
                raise _error(text, i, f"number longer than {MAX_NUMBER} characters")
            number: float | int = float(literal) if any(c in literal for c in ".eE") else int(literal)
            tokens.append(_Token("number", literal, number, i))
            i = m.end()
            continue
        m = _NAME.match(text, i)
        if m:
            tokens.append(_Token("name", m.group(), m.group(), i))
            i = m.end()
            continue
        shown = ch if ch.isprintable() else f"U+{ord(ch):04X}"
        raise _error(text, i, f"unexpected character {shown!r}")
    tokens.append(_Token("end", "", None, n))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            escaped = _ESCAPES.get(text[i + 1 : i + 2])
            if escaped is None:
                raise _error(text, i, "unknown escape in string (use \\\" \\' \\\\ \\n \\t)")
            out.append(escaped)
            i += 2
        elif not ch.isprintable():
            raise _error(text, i, f"control character U+{ord(ch):04X} in string")
        else:
            out.append(ch)
            i += 1
        if len(out) > MAX_STRING:
            raise _error(text, start, f"string longer than {MAX_STRING} characters")
    raise _error(text, start, "string is not closed")


class _Parser:
    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.fields: set[str] = set()

    # --- helpers --------------------------------------------------------------------------------

    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def is_word(self, word: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token.kind == "name" and token.text == word

    def is_punct(self, ch: str) -> bool:
        token = self.peek()
        return token.kind == "punct" and token.text == ch

    def fail(self, token: _Token, message: str) -> FilterError:
        return _error(self.text, token.pos, message)

    def expect_punct(self, ch: str) -> None:
        token = self.peek()
        if not self.is_punct(ch):
            raise self.fail(token, f"expected {ch!r}, found {_describe(token)}")
        self.take()

    # --- grammar --------------------------------------------------------------------------------

    def parse(self) -> Getter:
        node = self.or_expr(0)
        token = self.peek()
        if token.kind != "end":
            raise self.fail(token, f"expected 'and', 'or' or the end, found {_describe(token)}")
        return node

    def or_expr(self, depth: int) -> Getter:
        parts = [self.and_expr(depth)]
        while self.is_word("or"):
            self.take()
            parts.append(self.and_expr(depth))
        if len(parts) == 1:
            return parts[0]
        return lambda event: any(_truthy(p(event)) for p in parts)

    def and_expr(self, depth: int) -> Getter:
        parts = [self.not_expr(depth)]
        while self.is_word("and"):
            self.take()
            parts.append(self.not_expr(depth))
        if len(parts) == 1:
            return parts[0]
        return lambda event: all(_truthy(p(event)) for p in parts)

    def not_expr(self, depth: int) -> Getter:
        if self.is_word("not"):
            token = self.take()
            self.check_depth(token, depth + 1)
            inner = self.not_expr(depth + 1)
            return lambda event: not _truthy(inner(event))
        return self.comparison(depth)

    def comparison(self, depth: int) -> Getter:
        left, _ = self.operand(depth)
        token = self.peek()
        if token.kind == "op":
            self.take()
            right, _ = self.operand(depth)
            return _compare(token.text, left, right)
        if self.is_word("in") or (self.is_word("not") and self.is_word("in", 1)):
            negate = self.is_word("not")
            self.take()
            if negate:
                self.take()
            right, _ = self.operand(depth)
            if negate:
                return lambda event: not _member(left(event), right(event))
            return lambda event: _member(left(event), right(event))
        if self.is_word("matches"):
            self.take()
            pattern = self.peek()
            if pattern.kind != "string":
                raise self.fail(pattern, "'matches' takes a string literal glob, e.g. \"livekit.room.*\"")
            self.take()
            regex = re.compile(translate(pattern.value))
            return lambda event: isinstance(v := left(event), str) and regex.match(v) is not None
        return left

    def operand(self, depth: int) -> tuple[Getter, bool]:
        """The operand and whether it is a constant."""
        token = self.peek()
        if self.is_punct("("):
            self.take()
            self.check_depth(token, depth + 1)
            inner = self.or_expr(depth + 1)
            self.expect_punct(")")
            return inner, False
        if self.is_punct("["):
            value = self.list_literal()
            return (lambda _: value), True
        if token.kind in ("string", "number"):
            self.take()
            constant = token.value
            return (lambda _: constant), True
        if token.kind == "name":
            return self.name(token), token.text in ("true", "false", "null")
        raise self.fail(token, f"expected a field, a value or '(', found {_describe(token)}")

    def name(self, token: _Token) -> Getter:
        self.take()
        word = token.text
        if word in ("true", "false", "null"):
            constant = {"true": True, "false": False, "null": None}[word]
            return lambda _: constant
        if word in KEYWORDS:
            raise self.fail(token, f"expected a field or a value, found the keyword {word!r}")
        try:
            parts = check_path(word)
        except ValueError as exc:
            raise self.fail(token, str(exc)) from None
        self.fields.add(word)
        return lambda event: resolve(event, parts)

    def list_literal(self) -> list[Any]:
        start = self.take()
        items: list[Any] = []
        while not self.is_punct("]"):
            token = self.take()
            if token.kind in ("string", "number"):
                items.append(token.value)
            elif token.kind == "name" and token.text in ("true", "false", "null"):
                items.append({"true": True, "false": False, "null": None}[token.text])
            else:
                raise self.fail(token, f"lists hold only literal values, found {_describe(token)}")
            if len(items) > MAX_LIST_ITEMS:
                raise self.fail(start, f"list has more than {MAX_LIST_ITEMS} items")
            if self.is_punct(","):
                self.take()
            elif not self.is_punct("]"):
                raise self.fail(self.peek(), f"expected ',' or ']', found {_describe(self.peek())}")
        self.take()
        return items

    def check_depth(self, token: _Token, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise self.fail(token, f"nested deeper than {MAX_DEPTH} levels")


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    shown = token.text if len(token.text) <= 30 else token.text[:27] + "..."
    return repr(shown)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def _ordered(a: Any, b: Any) -> bool:
    return (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))


def _compare(op: str, left: Getter, right: Getter) -> Getter:
    if op == "==":
        return lambda event: _equal(left(event), right(event))
    if op == "!=":
        return lambda event: not _equal(left(event), right(event))

    def ordered(event: Event) -> bool:
        a, b = left(event), right(event)
        if not _ordered(a, b):
            return False
        if op == "<":
            return bool(a < b)
        if op == "<=":
            return bool(a <= b)
        if op == ">":
            return bool(a > b)
        return bool(a >= b)

    return ordered


def _member(item: Any, container: Any) -> bool:
    if isinstance(container, list):
        return any(_equal(item, candidate) for candidate in container)
    if isinstance(container, str) and isinstance(item, str):
        return item in container
    return False


def _truthy(value: Any) -> bool:
    return bool(value)
