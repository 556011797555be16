"""Prometheus metrics of the consumer services, labelled by consumer name."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDS_PROCESSED = Counter("lkbus_consumer_records_processed", "Records handled.", ["consumer"])
FAILURES = Counter("lkbus_consumer_failures", "Handler failures (before retry or dead letter).", ["consumer"])
DEAD_LETTERED = Counter(
    "lkbus_consumer_dead_lettered", "Records sent to the dead-letter topic.", ["consumer"]
)
PROCESSING_SECONDS = Histogram("lkbus_consumer_batch_seconds", "Time to handle one batch.", ["consumer"])
LAG = Gauge(
    "lkbus_consumer_lag", "Records behind the end of the partition.", ["consumer", "topic", "partition"]
)
