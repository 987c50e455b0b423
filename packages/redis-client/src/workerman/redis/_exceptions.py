"""Errors of workerman.redis: who is at fault, and the server's error prefixes as classes."""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BusyError",
    "ExecAbortError",
    "NoScriptError",
    "ReadOnlyError",
    "RedisConnectionError",
    "RedisError",
    "RedisProtocolError",
    "RedisTimeoutError",
    "ResponseError",
    "WatchError",
    "WrongTypeError",
    "error_from_reply",
]


class RedisError(Exception):
    """Base class of every error raised by workerman.redis."""


class RedisConnectionError(RedisError):
    """The connection to the server failed or was lost; the command may not have run."""


class RedisTimeoutError(RedisConnectionError):
    """Connecting, or waiting for a reply, took longer than its timeout."""


class RedisProtocolError(RedisConnectionError):
    """The server sent bytes that are not RESP; the connection is dropped."""


class ResponseError(RedisError):
    """The server answered the command with an error reply.

    Attributes:
        prefix: the error's first word (``ERR``, ``WRONGTYPE``, ``NOSCRIPT`` ...).
    """

    prefix = "ERR"


class WrongTypeError(ResponseError):
    prefix = "WRONGTYPE"


class NoScriptError(ResponseError):
    prefix = "NOSCRIPT"


class BusyError(ResponseError):
    prefix = "BUSY"


class ReadOnlyError(ResponseError):
    prefix = "READONLY"


class ExecAbortError(ResponseError):
    prefix = "EXECABORT"


class AuthenticationError(ResponseError):
    """AUTH failed (``WRONGPASS``, ``NOAUTH``, ``NOPERM``...)."""

    prefix = "WRONGPASS"


class WatchError(RedisError):
    """A watched key changed: the transaction was not executed."""


_BY_PREFIX: dict[str, type[ResponseError]] = {
    cls.prefix: cls
    for cls in (WrongTypeError, NoScriptError, BusyError, ReadOnlyError, ExecAbortError)
}
_BY_PREFIX.update(
    {"WRONGPASS": AuthenticationError, "NOAUTH": AuthenticationError, "NOPERM": AuthenticationError}
)


def error_from_reply(message: str) -> ResponseError:
    """The exception for an error reply, by its prefix (a plain ResponseError otherwise)."""
    prefix = message.split(" ", 1)[0]
    error = _BY_PREFIX.get(prefix, ResponseError)(message)
    if error.prefix != prefix:
        error.prefix = prefix
    return error
