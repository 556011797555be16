"""A real single-node Apache Kafka broker (KRaft) run from jars resolved by Maven, no Docker."""

from lkbus.broker.local import BrokerStatus, LocalBroker

__all__ = ["BrokerStatus", "LocalBroker"]
