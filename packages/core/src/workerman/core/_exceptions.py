"""Exceptions of workerman.core, typed by who is at fault."""

from __future__ import annotations

__all__ = [
    "AddressInUseError",
    "ProtocolError",
    "ServerError",
    "WorkermanError",
]


class WorkermanError(Exception):
    """Base class of every error raised by workerman.core."""


class ProtocolError(WorkermanError):
    """The remote peer sent bytes that the connection's protocol cannot accept.

    A codec raises it from ``input`` or ``decode``; the connection logs it, counts it
    and closes that connection only.
    """


class ServerError(WorkermanError):
    """A worker could not be set up: a bad listen address, a port in use, no running loop."""


class AddressInUseError(ServerError):
    """The address a worker wants to listen on is taken by another process."""
