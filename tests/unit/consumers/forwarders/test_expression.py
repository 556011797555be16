"""The filter language: what it selects, and one clear `FilterError` for anything else."""

from __future__ import annotations

import inspect

import pytest

from consumers.forwarders import FilterError, Selector, compile_filter
from consumers.forwarders import expression as expression_module
from tests.unit.consumers.forwarders.samples import ended, started

EVENT = ended(seq=3, reason="done")

TRUE = [
    'type == "lkbus.session.ended"',
    'type == "lkbus.session.ended" and agent_name in ["sales"]',
    "agent_name in ['support', 'sales']",
    'agent_name not in ["support"]',
    "seq == 3",
    "seq == 3.0",
    "seq >= 3 and seq < 4",
    "seq > 2.5",
    'type matches "lkbus.session.*"',
    'data.reason == "done"',
    "data.last_seq == seq",
    "data.event_counts",
    "data.error == null",
    "data.missing == null",
    'not type == "livekit.agent.close"',
    "not not true",
    '(agent_name == "x" or seq == 3) and room_name == "room-1"',
    'session_id != "other"',
    '"sess" in "session"',
    'time > "2023-11-14"',
    'participant_identity == "caller-7"',
    'schema_version == "1.0"',
    "seq in [1, 2, 3,]",
    "data.model_dump == null",
    "data.model_fields == null",
]

FALSE = [
    'type == "livekit.agent.close"',
    'agent_name in ["support"]',
    'seq == "3"',
    "seq == true",
    'seq < "4"',
    "data.error.code == 1",
    "data.missing > 1",
    "null",
    "false or false",
    'type matches "livekit.*"',
    "seq in []",
    "job_id in 5",
]


@pytest.mark.parametrize("text", TRUE)
def test_selects(text: str) -> None:
    assert compile_filter(text)(EVENT), text


@pytest.mark.parametrize("text", FALSE)
def test_rejects(text: str) -> None:
    assert not compile_filter(text)(EVENT), text


def test_precedence_and_binds_tighter_than_or() -> None:
    assert compile_filter("true or false and false")(EVENT)
    assert not compile_filter("(true or false) and false")(EVENT)


def test_reports_the_fields_it_reads() -> None:
    assert compile_filter('agent_name == "a" or data.reason == "b"').fields == {"agent_name", "data.reason"}


HOSTILE = [
    "",
    "   ",
    "__import__('os').system('id')",
    "eval('1')",
    "type.__class__",
    "data.__dict__",
    "data.Reason",
    "lambda: 1",
    "type == 'x",
    'type == "a\\qb"',
    "type == 'a\x00b'",
    "\x00",
    "type ==",
    "== 'x'",
    "type == 'x' 'y'",
    "seq == 1 == 1",
    "and",
    "not",
    "(seq == 1",
    "seq == 1)",
    "[seq]",
    "agent_name in [agent_name]",
    "agent_name in [1, 2",
    "type matches agent_name",
    "1" * 30,
    "a.b.c.d.e.f.g.h.i.j",
    "nope == 1",
    "type.sub == 1",
    "(" * 100 + "true" + ")" * 100,
    "not " * 50 + "true",
    "x" * 5000,
    "[" + ",".join(["1"] * 300) + "]",
    "'" + "a" * 600 + "'",
    "type ≠ 'x'",
    "type == 'x'; import os",
    "{'a': 1}",
    "seq @ 2",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_raises_one_clear_error(text: str) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(text)
    message = str(caught.value)
    assert message.startswith("filter expression"), message
    assert "\n" not in message
    assert len(message) < 300


def test_filter_error_is_a_value_error_for_pydantic() -> None:
    assert issubclass(FilterError, ValueError)


def test_the_evaluator_never_uses_eval_or_exec() -> None:
    source = inspect.getsource(expression_module)
    code = source.split('"""', 2)[2]  # past the module docstring, which mentions eval
    assert "eval(" not in code
    assert "exec(" not in code
    assert "compile(" not in code.replace("re.compile(", "").replace("compile_filter(", "")


def test_selector_combines_types_agents_and_expression() -> None:
    assert Selector.of()(EVENT)
    assert Selector.of(types=["ended"])(EVENT)
    assert Selector.of(types=["lkbus.session.*"])(EVENT)
    assert not Selector.of(types=["started"])(EVENT)
    assert Selector.of(agents=["sa*"])(EVENT)
    assert not Selector.of(agents=["support"])(EVENT)
    assert not Selector.of(types=["ended"], expression="seq > 10")(EVENT)
    assert Selector.of(types=["ended", "started"], agents=["sales"], expression="seq == 1")(started(seq=1))
