"""Errors a consumer raises to tell the runtime what to do with a record."""

from __future__ import annotations


class ConsumerError(Exception):
    """Root of the consumer runtime's errors. `retriable` says whether trying again may help."""

    retriable = False


class RetriableError(ConsumerError):
    """A passing failure (a store or endpoint briefly away): retried with backoff, then dead-lettered."""

    retriable = True


class PoisonRecordError(ConsumerError):
    """The record can never be processed: dead-lettered at once."""


class UnknownConsumerError(ConsumerError):
    """`lkbus consume NAME` names no consumer."""
