"""The codec contract every protocol follows, identical to Workerman's ProtocolInterface."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Codec"]


@runtime_checkable
class Codec(Protocol):
    """What a protocol is: three functions over bytes, never touching a socket.

    ``input(buffer, connection)`` looks at the bytes received so far (starting at a
    package boundary) and returns 0 when it needs more, or the byte length of the first
    package. It raises :class:`~workerman.core.ProtocolError` for bytes that can never
    become a valid package. ``decode(package, connection)`` turns exactly those bytes
    into the message handed to ``on_message``; ``encode(message, connection)`` turns what
    the application sends into bytes.

    A class with static methods, an instance or a module all satisfy this.
    """

    def input(self, buffer: bytes, connection: Any) -> int: ...

    def decode(self, package: bytes, connection: Any) -> Any: ...

    def encode(self, message: Any, connection: Any) -> bytes: ...
