"""Frame: a 4-byte big-endian length that counts itself, then the payload."""

from __future__ import annotations

from typing import Any

from mypy_extensions import mypyc_attr

from .._exceptions import ProtocolError

__all__ = ["Frame"]

_HEAD = 4


@mypyc_attr(allow_interpreted_subclasses=True)  # a public class: users subclass it
class Frame:
    """Length-prefixed binary frames, as Workerman's Frame protocol.

    The header is the total frame length (header included) as an unsigned 32-bit
    big-endian integer. ``decode`` returns the payload as ``bytes``; ``encode`` takes
    ``bytes`` or ``str`` (UTF-8).
    """

    @staticmethod
    def input(buffer: bytes, connection: Any) -> int:
        if len(buffer) < _HEAD:
            return 0
        length = int.from_bytes(buffer[:_HEAD], "big")
        if length < _HEAD:
            raise ProtocolError(f"frame length {length} is shorter than its own header")
        return length

    @staticmethod
    def decode(package: bytes, connection: Any) -> bytes:
        return package[_HEAD:]

    @staticmethod
    def encode(message: Any, connection: Any) -> bytes:
        if isinstance(message, str):
            message = message.encode()
        elif not isinstance(message, bytes | bytearray | memoryview):
            raise TypeError(f"frame:// sends bytes or str, not {type(message).__name__}")
        return (len(message) + _HEAD).to_bytes(_HEAD, "big") + bytes(message)
