"""Fixtures for tests against a real Kafka broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lkbus.broker import LocalBroker
from lkbus.broker.ephemeral import kafka_bootstrap
from lkbus.settings import KafkaSettings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_source() -> Iterator[tuple[str, LocalBroker | None]]:
    with kafka_bootstrap() as source:
        yield source


@pytest.fixture(scope="session")
def bootstrap(kafka_source: tuple[str, LocalBroker | None]) -> str:
    return kafka_source[0]


@pytest.fixture
def kafka(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=bootstrap, client_id="lkbus-tests")


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Fresh names for topics and consumer groups, so tests never share them."""
    run = uuid.uuid4().hex[:8]
    return lambda base: f"test.{base}.{run}"
