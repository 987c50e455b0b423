"""Errors of workerman.queue, one base class and a family for each kind of fault."""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "JobTimeoutError",
    "LeaseExpiredError",
    "PayloadTooLargeError",
    "QueueConnectionError",
    "QueueError",
    "SerializationError",
    "UnroutableError",
    "UnsupportedDriverError",
]


class QueueError(Exception):
    """Base class of every error raised by workerman.queue."""


class QueueConnectionError(QueueError):
    """The broker (Redis or RabbitMQ) could not be reached or the connection was lost;
    the operation may or may not have taken effect."""


class UnroutableError(QueueError):
    """The broker accepted the message but could route it to no queue (AMQP mandatory
    routing): nothing was stored."""


class BackendUnavailableError(QueueError):
    """The backend a URL names needs an extra that is not installed."""


class UnsupportedDriverError(QueueError):
    """The backend cannot run on this event loop driver (aio-pika is asyncio-only)."""


class PayloadTooLargeError(QueueError, ValueError):
    """A job's serialized payload is larger than ``max_payload_size``; nothing was sent."""


class SerializationError(QueueError, ValueError):
    """The serializer could not encode a payload (on send) or decode one (on receive)."""


class JobTimeoutError(QueueError):
    """A handler ran longer than the consumer's ``timeout``; it was cancelled."""


class LeaseExpiredError(QueueError):
    """A job was taken more than ``max_attempts`` times because its lease kept expiring
    (its consumer died or stalled before finishing it)."""
