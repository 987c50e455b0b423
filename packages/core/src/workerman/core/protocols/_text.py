"""Text: one message per line, as Workerman's Text protocol."""

from __future__ import annotations

from typing import Any

from mypy_extensions import mypyc_attr

from .._exceptions import ProtocolError

__all__ = ["Text"]


@mypyc_attr(allow_interpreted_subclasses=True)  # a public class: users subclass it
class Text:
    """Newline-delimited UTF-8 text.

    A package ends at ``\\n``; ``decode`` strips the trailing ``\\r\\n`` or ``\\n`` and
    returns ``str``; ``encode`` appends ``\\n`` to a ``str`` (UTF-8) or ``bytes``.
    """

    @staticmethod
    def input(buffer: bytes, connection: Any) -> int:
        end = buffer.find(b"\n")
        return 0 if end < 0 else end + 1

    @staticmethod
    def decode(package: bytes, connection: Any) -> str:
        try:
            return package.rstrip(b"\r\n").decode()
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"text line is not valid UTF-8: {exc}") from None

    @staticmethod
    def encode(message: Any, connection: Any) -> bytes:
        if isinstance(message, str):
            return message.encode() + b"\n"
        if isinstance(message, bytes | bytearray | memoryview):
            return bytes(message) + b"\n"
        raise TypeError(f"text:// sends str or bytes, not {type(message).__name__}")
