"""From received bytes to ``on_message`` calls: the per-message hot path of a connection.

A generic loop follows the codec contract (input, then decode) for any protocol. The
built-in Text protocol gets its own loop that scans for newlines from an offset instead
of calling ``input`` and slicing off the remainder for every line; its messages are the
same ones ``Text.input``/``Text.decode`` would give (the property tests check both).
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, Final

from ._callbacks import report
from ._exceptions import ProtocolError
from ._statistics import statistics
from ._status_codes import CLOSING as _CLOSING
from .protocols._frame import Frame
from .protocols._text import Text

if TYPE_CHECKING:
    from ._connection import TcpConnection
    from .protocols import Codec


def deliver(
    conn: TcpConnection, message: Any, failed: Callable[[Exception], Any] | None = None
) -> None:
    """Hand one message to ``on_message``: the one dispatch of every protocol. It is
    counted in ``statistics.total_request``; an awaitable result runs as a task with the
    connection held; what the handler raises is reported, or handed to ``failed``."""
    statistics.total_request += 1
    callback = conn.on_message
    if callback is None:
        return
    try:
        result = callback(conn, message)
    except Exception as exc:
        if failed is None:
            report(conn.describe("on_message"), exc)
        else:
            failed(exc)
        return
    if result is not None and isawaitable(result):
        conn.run_held(result, failed)


def parse_text(conn: TcpConnection, buffer: bytes) -> None:
    limit = conn.max_package_size
    size = len(buffer)
    start = 0
    delivered = 0
    find = buffer.find
    try:
        while start < size:
            end = find(b"\n", start)
            if end < 0:
                if size - start >= limit:
                    conn.protocol_error(f"no complete package in {size - start} bytes")
                else:
                    conn._recv = bytearray(buffer[start:] if start else buffer)
                return
            if end + 1 - start > limit:
                conn.protocol_error(
                    f"package of {end + 1 - start} bytes exceeds max_package_size {limit}"
                )
                return
            # a trailing "\r" goes too, as Text.decode strips "\r\n"
            line = buffer[start:end] if buffer[end - 1] != 13 else buffer[start:end].rstrip(b"\r")
            start = end + 1
            try:
                message = line.decode()
            except UnicodeDecodeError as exc:
                conn.protocol_error(f"text line is not valid UTF-8: {exc}")
                return
            delivered += 1
            # deliver(conn, message), written out: on this loop a call per line is 6% of
            # the instructions of a message (benchmarks/hotpath.py, text-batch)
            callback = conn.on_message
            if callback is not None:
                try:
                    result = callback(conn, message)
                except Exception as exc:
                    report(conn.describe("on_message"), exc)
                else:
                    if result is not None and isawaitable(result):
                        conn.run_held(result)
            # Only a callback can make the connection busy or close it.
            if conn.holds:
                if start < size:
                    conn._recv = bytearray(buffer[start:])
                return
            if conn._status >= _CLOSING:
                return
    finally:
        statistics.total_request += delivered


def parse_frame(conn: TcpConnection, buffer: bytes) -> None:
    """Frame by offset: the same packages as Frame.input/decode, without copying the rest
    of the read for every frame."""
    limit = conn.max_package_size
    size = len(buffer)
    start = 0
    delivered = 0
    conn._want = 0
    try:
        while size - start >= _FRAME_HEAD:
            length = int.from_bytes(buffer[start : start + _FRAME_HEAD], "big")
            if length < _FRAME_HEAD:
                conn.protocol_error(f"frame length {length} is shorter than its own header")
                return
            if length > limit:
                conn.protocol_error(f"package of {length} bytes exceeds max_package_size {limit}")
                return
            end = start + length
            if end > size:
                conn._want = length
                break
            message = buffer[start + _FRAME_HEAD : end]
            start = end
            delivered += 1
            # deliver(conn, message), written out as in parse_text
            callback = conn.on_message
            if callback is not None:
                try:
                    result = callback(conn, message)
                except Exception as exc:
                    report(conn.describe("on_message"), exc)
                else:
                    if result is not None and isawaitable(result):
                        conn.run_held(result)
            if conn.holds:
                break
            if conn._status >= _CLOSING:
                return
        if start < size:
            conn._recv = bytearray(buffer[start:] if start else buffer)
    finally:
        statistics.total_request += delivered


def parse_codec(conn: TcpConnection, codec: Codec, buffer: bytes) -> None:
    """Any codec, by its contract. ``input`` sees a window that starts at the next
    package: a prefix of what arrived, as a TCP split could give it anyway, grown until
    the package fits. So a read of many small packages costs a small copy per package,
    not a copy of the whole rest of the read (which made such a read quadratic)."""
    limit = conn.max_package_size
    size = len(buffer)
    start = 0
    window = _WINDOW
    while start < size:
        stop = min(size, start + window)
        chunk = buffer if start == 0 and stop == size else buffer[start:stop]
        try:
            length = codec.input(chunk, conn)
        except ProtocolError as exc:
            conn.protocol_error(str(exc))
            return
        except Exception as exc:
            report(conn.describe("protocol input"), exc)
            conn.protocol_error(f"codec input raised {type(exc).__name__}")
            return
        if length < 0 or length > limit:
            conn.protocol_error(f"package of {length} bytes exceeds max_package_size {limit}")
            return
        if length == 0 or length > len(chunk):
            if stop < size:  # the window was short of what has arrived: widen it
                window = max(window * 2, length)
                continue
            if length == 0 and size - start >= limit:
                conn.protocol_error(f"no complete package in {size - start} bytes")
                return
            conn._want = length
            conn._recv = bytearray(chunk)
            return
        conn._want = 0
        package = chunk if length == len(chunk) else chunk[:length]
        start += length
        window = max(_WINDOW, 2 * length)
        try:
            message = codec.decode(package, conn)
        except ProtocolError as exc:
            conn.protocol_error(str(exc))
            return
        except Exception as exc:
            report(conn.describe("protocol decode"), exc)
            conn.protocol_error(f"codec decode raised {type(exc).__name__}")
            return
        deliver(conn, message)
        if conn.holds:
            if start < size:
                conn._recv = bytearray(buffer[start:])
            return
        if conn._status >= _CLOSING:
            return  # closed by a handler or a protocol error: the rest is not read


def parse(conn: TcpConnection, buffer: bytes) -> None:
    """Decode and deliver every whole package in ``buffer``; keep the rest."""
    codec = conn.protocol
    if codec is None:
        deliver(conn, buffer)
    elif codec is _TEXT:
        parse_text(conn, buffer)
    elif codec is _FRAME:
        parse_frame(conn, buffer)
    else:
        state = conn._pstate
        if state is not None:  # a StreamProtocol: the read is all its own
            state.data_received(buffer)
        else:
            parse_codec(conn, codec, buffer)  # type: ignore[arg-type]  # (no state: a codec)


_TEXT: Final = Text
_FRAME: Final = Frame
_FRAME_HEAD: Final = 4
_WINDOW: Final = 512  # bytes a codec's input first sees of a read
