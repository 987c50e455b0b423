"""The socket-like object paho reads and writes, on the loop's readiness watchers.

paho reads a packet as one byte of type, the length a byte at a time, then the body:
three or more ``recv`` calls per packet. Served from what one ``recv`` of 256 KiB
brought in, those are slices, not system calls. Writes are gathered and leave in one
``send`` per loop turn; what the kernel does not take waits for the writable watcher.
"""

from __future__ import annotations

import errno
import ssl as ssl_module
from collections.abc import Callable
from typing import Any

from workerman.core import current_loop

from ._exceptions import MqttConnectionError, MqttError
from ._websocket import WebSocketCodec

__all__ = ["Transport", "check_payload", "close_socket"]

_READ_SIZE = 256 * 1024
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl_module.SSLWantWriteError)

Done = Callable[[Any, BaseException | None], None]


def close_socket(sock: Any, loop: Any = None) -> None:
    """Close a socket the loop may have watched. Trio must be told first
    (``notify_closing``): its watcher of the old descriptor may not have left yet, and
    the number is about to be reused by the next socket."""
    try:
        loop = loop or current_loop()
        if loop.name == "trio":
            import trio

            trio.lowlevel.notify_closing(sock)
    except Exception:  # no loop any more (interpreter exit): nothing to tell
        pass
    sock.close()


class Transport:
    """What paho sees as its socket. ``recv`` and ``send`` never touch the kernel:
    the loop's watchers do, and tell the engine through ``on_input`` and ``on_drain``."""

    def __init__(
        self,
        sock: Any,
        on_input: Callable[[], None],
        on_drain: Callable[[], None],
        high_water: int,
        websocket: WebSocketCodec | None = None,
        leftover: bytes = b"",
    ) -> None:
        self.sock = sock
        self._websocket = websocket
        self._loop = current_loop()
        self._fd: int = sock.fileno()
        self._on_input = on_input
        self._on_drain = on_drain
        self.high_water = high_water
        self._data = b""
        self._pos = 0
        self.eof = False
        self.error: BaseException | None = None
        self.closed = False
        self.reading = False
        self._out: list[bytes] = []
        self._head = b""  # what the kernel refused last: sent again first, as it was
        self.out_size = 0
        self.flush_scheduled = False
        self._watching_write = False
        self.bytes_in = 0
        self.bytes_out = 0
        if leftover:
            self._take(leftover)

    # -- paho's side ---------------------------------------------------------------------

    def recv(self, size: int) -> bytes:
        data, pos = self._data, self._pos
        if pos >= len(data):
            if self.eof:
                return b""
            raise BlockingIOError
        end = pos + size
        if pos == 0 and end >= len(data):
            self._data = b""
            return data
        self._pos = end
        return data[pos:end]

    def send(self, data: bytes | bytearray) -> int:
        if self.closed:
            raise OSError(errno.EPIPE, "the connection is closed")
        frame = bytes(data) if self._websocket is None else self._websocket.encode(bytes(data))
        self._out.append(frame)
        self.out_size += len(frame)
        if not self.flush_scheduled and not self._watching_write:
            self.flush_scheduled = True
            current_loop().call_soon(self.flush)
        return len(data)

    def fileno(self) -> int:
        return self._fd

    def setblocking(self, flag: bool) -> None:
        """paho asks; the socket is non-blocking already."""

    def pending(self) -> int:
        return len(self._data) - self._pos

    def close(self) -> None:
        if self.closed:
            return
        if self.out_size and self.error is None:
            self._send_some()  # a last DISCONNECT, if the kernel takes it
        self.closed = True
        loop = self._loop
        try:
            loop.off_readable(self.sock)
            if self._watching_write:
                loop.off_writable(self.sock)
        except Exception:  # closed after its loop ended (paho's __del__): nothing to unwatch
            pass
        self._watching_write = False
        self._out.clear()
        self._head = b""
        close_socket(self.sock, loop)

    # -- the loop's side -----------------------------------------------------------------

    @property
    def buffered(self) -> bool:
        """Bytes received that paho has not read yet."""
        return self._pos < len(self._data)

    @property
    def full(self) -> bool:
        return self.out_size >= self.high_water

    def start_reading(self) -> None:
        if not self.reading and not self.closed and not self.eof:
            self.reading = True
            current_loop().on_readable(self.sock, self._readable)

    def stop_reading(self) -> None:
        if self.reading:
            self.reading = False
            if not self.closed:
                current_loop().off_readable(self.sock)

    def _readable(self, _fd: Any) -> None:
        if self.closed:
            return
        sock = self.sock
        try:
            chunk = sock.recv(_READ_SIZE)
            if isinstance(sock, ssl_module.SSLSocket):
                while sock.pending():  # TLS records decrypted but not yet read
                    chunk += sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError, ssl_module.SSLWantReadError):
            return
        except ssl_module.SSLWantWriteError:
            return
        except OSError as exc:
            self.error = exc
            chunk = b""
        if chunk:
            self.bytes_in += len(chunk)
            self._take(chunk)
        else:
            self.eof = True
            self.stop_reading()
        self._on_input()

    def _take(self, chunk: bytes) -> None:
        codec = self._websocket
        if codec is None:
            self._feed(chunk)
            return
        try:
            data = codec.feed(chunk)
        except MqttConnectionError as exc:
            self.error = exc
            self.eof = True
            self.stop_reading()
            return
        if data:
            self._feed(data)
        if codec.replies:
            for reply in codec.replies:
                self._out.append(reply)
                self.out_size += len(reply)
            codec.replies.clear()
            if not self.flush_scheduled and not self._watching_write:
                self.flush_scheduled = True
                current_loop().call_soon(self.flush)
        if codec.closed:
            self.eof = True  # the server's Close: read as the end of the stream
            self.stop_reading()

    def discard(self) -> None:
        """Drop what was received and not read, and read an end of stream next."""
        self._data, self._pos = b"", 0
        self.eof = True
        self.stop_reading()

    def _feed(self, chunk: bytes) -> None:
        if self._pos < len(self._data):
            self._data = self._data[self._pos :] + chunk
        else:
            self._data = chunk
        self._pos = 0

    def flush(self) -> None:
        """Send what paho wrote during this loop turn, in one system call."""
        self.flush_scheduled = False
        if self.closed or self._watching_write or not self.out_size:
            return
        self._send_some()
        if self.out_size and not self.closed and self.error is None:
            self._watching_write = True
            current_loop().on_writable(self.sock, self._writable)

    def _writable(self, _fd: Any) -> None:
        if self.closed:
            return
        self._send_some()
        if not self.out_size and self._watching_write:
            self._watching_write = False
            current_loop().off_writable(self.sock)

    def _send_some(self) -> None:
        was_full = self.full
        chunk = self._head
        if not chunk:
            out = self._out
            chunk = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
        try:
            sent = self.sock.send(chunk)
        except _WOULD_BLOCK:
            sent = 0
        except ssl_module.SSLWantReadError:
            sent = 0
        except OSError as exc:
            self.error = exc
            self.eof = True
            self._head = b""
            self._out.clear()
            self.out_size = 0
            current_loop().call_soon(self._on_input)  # paho reads the end, and reports it
            return
        self.bytes_out += sent
        self._head = chunk[sent:] if sent < len(chunk) else b""
        self.out_size -= sent
        if was_full and not self.full:
            self._on_drain()


def check_payload(payload: Any) -> bytes:
    """The bytes of a payload: bytes-like as they are, str as UTF-8, numbers as text."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    if isinstance(payload, bytearray | memoryview):
        return bytes(payload)
    if payload is None:
        return b""
    if isinstance(payload, int | float) and not isinstance(payload, bool):
        return str(payload).encode()
    raise MqttError(
        f"cannot publish a {type(payload).__name__}: use bytes, str, int, float or None"
    )
