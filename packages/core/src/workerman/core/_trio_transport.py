"""An asyncio-style transport over a trio stream, so one connection class serves both drivers.

The connection sees the same calls as on asyncio (connection_made, data_received,
eof_received, connection_lost, pause_writing, resume_writing) and calls the same
methods back (write, close, abort, pause_reading, resume_reading, ...). A write on a
plain socket goes straight to the kernel when nothing is queued; whatever the kernel
does not take waits in a buffer that one writer task drains.
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any

import trio

_READ_SIZE = 256 * 1024
_CLOSE_TIMEOUT = 5.0
_BROKEN = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


_SEND_PIECE = 256 * 1024  # bytes handed to the stream at once


class StreamTransport:
    __slots__ = (
        "_buffer",
        "_closing",
        "_eof",
        "_exc",
        "_fd",
        "_high",
        "_idle",
        "_inflight",
        "_low",
        "_nursery",
        "_protocol",
        "_read_scope",
        "_reading",
        "_resume",
        "_scope",
        "_stream",
        "_write_paused",
        "_write_scope",
    )

    def __init__(
        self, stream: trio.abc.Stream, fd: int, protocol: Any, nursery: trio.Nursery
    ) -> None:
        self._stream = stream
        self._fd = fd  # >= 0: a plain socket we may write to directly
        self._protocol = protocol
        self._nursery = nursery  # where a writer task runs while bytes wait to be sent
        self._buffer = bytearray()
        self._inflight = 0
        self._closing = False
        self._eof = False
        self._exc: BaseException | None = None
        self._reading = True
        self._resume: trio.Event | None = None
        self._idle: trio.Event | None = None
        self._high = 64 * 1024
        self._low = 16 * 1024
        self._write_paused = False
        self._scope: trio.CancelScope | None = None
        self._read_scope: trio.CancelScope | None = None
        self._write_scope: trio.CancelScope | None = None

    # -- the task that owns the stream -----------------------------------------------

    async def run(self) -> None:
        """Read until the stream ends or the connection closes, wait for queued bytes to
        leave, close the stream, report. An idle connection is this one task; a writer
        task exists only while bytes wait for the kernel."""
        protocol = self._protocol
        finished = False  # False: aborted, failed, or cancelled from outside
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                protocol.connection_made(self)
                if not self._closing:
                    await self._read_loop()
                while not self._closing or self._buffer or self._inflight:
                    self._idle = trio.Event()
                    await self._idle.wait()
                finished = not scope.cancel_called
        finally:
            with trio.move_on_after(_CLOSE_TIMEOUT) as cleanup:
                cleanup.shield = True
                if finished and self._exc is None:
                    with contextlib.suppress(*_BROKEN):
                        await self._stream.aclose()
                else:
                    await trio.aclose_forcefully(self._stream)
            protocol.connection_lost(self._exc)

    def _wake(self) -> None:
        idle = self._idle
        if idle is not None:
            self._idle = None
            idle.set()

    async def _read_loop(self) -> None:
        stream = self._stream
        protocol = self._protocol
        with trio.CancelScope() as scope:
            self._read_scope = scope
            while True:
                try:
                    data = await stream.receive_some(_READ_SIZE)
                except _BROKEN as exc:
                    self._fail(exc)
                    return
                if not data:
                    if not protocol.eof_received():
                        self.close()
                    return
                while not self._reading:
                    self._resume = trio.Event()
                    await self._resume.wait()
                protocol.data_received(data)

    async def _write_loop(self) -> None:
        stream = self._stream
        buffer = self._buffer
        scope = self._write_scope
        assert scope is not None
        with scope:  # the scope write() made, so an abort before this task ran still counts
            while buffer:
                # a piece at a time, so what the peer takes shows in the buffer's size
                # (the connection's send deadline watches it) while a large send goes out
                data = bytes(buffer[:_SEND_PIECE])
                del buffer[:_SEND_PIECE]
                self._inflight = len(data)
                try:
                    await stream.send_all(data)
                except _BROKEN as exc:
                    self._inflight = 0
                    self._write_scope = None
                    self._fail(exc)
                    return
                self._inflight = 0
                if self._write_paused and len(buffer) <= self._low:
                    self._write_paused = False
                    self._protocol.resume_writing()
        self._write_scope = None
        if self._eof:
            self._shutdown_write()
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        if self._exc is None:
            self._exc = exc
        self.abort()

    # -- the asyncio.Transport subset the connection uses ---------------------------

    def write(self, data: bytes) -> None:
        if self._closing or self._eof:
            return
        buffer = self._buffer
        if not buffer and not self._inflight and self._fd >= 0:
            try:
                sent = os.write(self._fd, data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self._fail(exc)
                return
            if sent == len(data):
                return
            data = data[sent:]
        buffer += data
        if self._write_scope is None and not self._inflight:
            self._write_scope = trio.CancelScope()  # claimed now; the task enters it
            self._nursery.start_soon(self._write_loop)
        if not self._write_paused and len(buffer) + self._inflight > self._high:
            self._write_paused = True
            self._protocol.pause_writing()

    def can_write_eof(self) -> bool:
        return self._fd >= 0  # a plain socket (TLS has no half-close)

    def write_eof(self) -> None:
        """Send FIN once what is buffered has left; reading goes on."""
        if self._eof or self._closing:
            return
        self._eof = True
        if not self._buffer and not self._inflight:
            self._shutdown_write()

    def _shutdown_write(self) -> None:
        sock = getattr(self._stream, "socket", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)

    def get_write_buffer_size(self) -> int:
        return len(self._buffer) + self._inflight

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = 64 * 1024 if high is None else high
        self._low = self._high // 4 if low is None else low

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        self._reading = True
        if self._resume is not None:
            self._resume.set()
            self._resume = None

    def is_reading(self) -> bool:
        return self._reading

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Stop reading, send what is buffered, then close."""
        if self._closing:
            return
        self._closing = True
        if self._read_scope is not None:
            self._read_scope.cancel()
        self._wake()

    def abort(self) -> None:
        """Close now, dropping what is buffered."""
        self._closing = True
        self._buffer.clear()
        if self._write_scope is not None:
            self._write_scope.cancel()
        if self._scope is not None:
            self._scope.cancel()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        stream = self._stream
        if isinstance(stream, trio.SSLStream):
            if name == "ssl_object":
                return stream
            stream = stream.transport_stream
        sock = getattr(stream, "socket", None)
        if sock is None:
            return default
        try:
            if name == "peername":
                return sock.getpeername()
            if name == "sockname":
                return sock.getsockname()
        except OSError:
            return default
        if name == "socket":
            return sock
        return default
