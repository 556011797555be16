"""Kafka for tests and benchmarks: `KAFKA_BOOTSTRAP_SERVERS`, else testcontainers, else a local broker.

testcontainers is a development dependency; it is imported only here.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import socket
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from lkbus.broker import LocalBroker
from lkbus.settings import BrokerSettings

if TYPE_CHECKING:
    from testcontainers.community.kafka import KafkaContainer

KAFKA_IMAGE = "apache/kafka:4.1.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def kafka_bootstrap() -> Iterator[tuple[str, LocalBroker | None]]:
    """Yield (bootstrap servers, the local broker when we started one)."""
    from_env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if from_env:
        yield from_env, None
        return
    container = _kafka_container()
    if container is not None:
        with container as kafka:
            yield kafka.get_bootstrap_server(), None
        return
    with local_broker() as broker:
        yield broker.bootstrap, broker


def _kafka_container() -> KafkaContainer | None:
    """testcontainers' Kafka when a Docker engine answers; its constructor fails at once otherwise."""
    from docker.errors import DockerException
    from testcontainers.community.kafka import KafkaContainer

    with warnings.catch_warnings():
        # The Docker client leaves its socket open when no engine answers.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            return KafkaContainer(KAFKA_IMAGE)
        except DockerException:
            return None
        finally:
            gc.collect()


@contextmanager
def local_broker() -> Iterator[LocalBroker]:
    """A fresh local broker on free ports, stopped at the end.

    `LKBUS_TEST_BROKER_DIR` fixes its folder, so `make test` can stop a broker left by a killed run.
    """
    fixed = os.environ.get("LKBUS_TEST_BROKER_DIR")
    data_dir = Path(fixed) if fixed else Path(tempfile.mkdtemp(prefix="lkbus-test-broker-"))
    LocalBroker(BrokerSettings(data_dir=data_dir)).stop()
    shutil.rmtree(data_dir, ignore_errors=True)
    broker = LocalBroker(
        BrokerSettings(
            data_dir=data_dir,
            port=free_port(),
            controller_port=free_port(),
            jars_dir=Path(os.environ.get("LKBUS_BROKER__JARS_DIR", ".lkbus/kafka-jars")),
        )
    )
    asyncio.run(broker.start())
    try:
        yield broker
    finally:
        broker.stop()
        if not fixed:
            shutil.rmtree(data_dir, ignore_errors=True)
