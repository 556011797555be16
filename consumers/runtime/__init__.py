"""The consumer runtime: commit after effect, dead letters, retries, graceful shutdown, health."""

from consumers.runtime.consumer import ConsumerContext, EventConsumer
from consumers.runtime.dedupe import SeenIds, SessionSeqs
from consumers.runtime.errors import ConsumerError, PoisonRecordError, RetriableError, UnknownConsumerError
from consumers.runtime.records import Checked, Incoming
from consumers.runtime.service import ConsumerService

__all__ = [
    "Checked",
    "ConsumerContext",
    "ConsumerError",
    "ConsumerService",
    "EventConsumer",
    "Incoming",
    "PoisonRecordError",
    "RetriableError",
    "SeenIds",
    "SessionSeqs",
    "UnknownConsumerError",
]
