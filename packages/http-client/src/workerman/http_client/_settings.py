"""Timeout and Limits: the numbers a client is configured with, each with a default."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits", "Timeout"]


@dataclass(frozen=True, slots=True)
class Timeout:
    """Deadlines in seconds, one per phase (None: no limit). Each raises its own error.

    Attributes:
        connect: opening a connection, TCP and TLS (ConnectTimeout).
        read: the longest gap while waiting for the server: for the response head, and
            between two pieces of its body (ReadTimeout). An hour-long event stream with
            steady events never trips it.
        write: the longest time the request's bytes may wait for a server that does not
            read them (WriteTimeout).
        pool: waiting for a connection when the pool is at its limits (PoolTimeout).
        total: the whole request from the first byte to the last of the response, redirects
            included (TotalTimeout).
    """

    connect: float | None = 10.0
    read: float | None = 30.0
    write: float | None = 30.0
    pool: float | None = 30.0
    total: float | None = None

    @classmethod
    def of(cls, value: Timeout | float | None) -> Timeout:
        """A Timeout from a number (every phase but total) or None (no limits at all)."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(None, None, None, None, None)
        return cls(value, value, value, value, None)


@dataclass(frozen=True, slots=True)
class Limits:
    """Sizes and counts a client holds to.

    Attributes:
        max_connections: open connections across all hosts (waiters queue in order).
        max_connections_per_host: open connections to one origin (scheme, host, port).
        keepalive_expiry: seconds an idle connection is kept for reuse.
        max_head_size: bytes of a response's status line and headers.
        max_headers: header fields in a response.
        max_body_size: bytes ``read()`` (and ``text()``, ``json()``, callback style) buffers,
            counted after decompression, so a gzip bomb is refused, not inflated. Streams
            (``iter_bytes``) are not limited: they hold little at a time.
    """

    max_connections: int = 100
    max_connections_per_host: int = 32
    keepalive_expiry: float = 5.0
    max_head_size: int = 64 * 1024
    max_headers: int = 100
    max_body_size: int = 64 * 1024 * 1024
