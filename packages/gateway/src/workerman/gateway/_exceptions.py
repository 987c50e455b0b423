"""Errors of workerman.gateway: bad input from the caller, and Redis out of reach."""

from __future__ import annotations

__all__ = [
    "GatewayError",
    "GatewayTimeoutError",
    "GatewayUnavailableError",
    "InvalidTargetError",
    "MessageTooLargeError",
    "translate",
]


class GatewayError(Exception):
    """Base class of every error raised by workerman.gateway."""


class GatewayUnavailableError(GatewayError):
    """Redis could not be reached (or the connection was lost): the operation did not
    happen, or its effect is unknown. Nothing was queued to be retried later."""


class GatewayTimeoutError(GatewayUnavailableError):
    """Redis did not answer within the gateway's ``timeout``."""


class InvalidTargetError(GatewayError, ValueError):
    """A client id, uid, group or event name that is malformed or over its limit."""


class MessageTooLargeError(GatewayError, ValueError):
    """A message (or session) over its size limit; nothing was sent."""


def translate(exc: BaseException) -> GatewayError:
    """The gateway's error for what the Redis client (or a deadline) raised."""
    from workerman.redis import RedisConnectionError, RedisTimeoutError, ResponseError

    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, RedisTimeoutError | TimeoutError):
        return GatewayTimeoutError(f"Redis did not answer in time: {exc}")
    if isinstance(exc, RedisConnectionError):
        return GatewayUnavailableError(f"Redis is unreachable: {exc}")
    if isinstance(exc, ResponseError) and "session over" in str(exc):
        return MessageTooLargeError(str(exc))
    return GatewayError(f"Redis failed the operation: {exc}")
