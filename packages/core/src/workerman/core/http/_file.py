"""File responses: Range and conditional requests, and streaming as the client reads."""

from __future__ import annotations

import mimetypes
import os
import stat
from email.utils import formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING, BinaryIO, Final

from workerman.core import ConnectionStatus, current_loop

from ._answer import complete, cookie_line, fail, send_plain
from ._response import Response

if TYPE_CHECKING:
    from workerman.core import TcpConnection

    from ._protocol import HttpState
    from ._request import Request

__all__ = ["FileStreamer", "send_file"]

_PIECE = 64 * 1024  # bytes read per write (capped by the send buffer); larger was slower
_CLOSING: Final = ConnectionStatus.CLOSING


class FileStreamer:
    """Writes the rest of a file while the connection's send buffer has room, and
    again each time it drains."""

    __slots__ = ("file", "remaining")

    def __init__(self, file: BinaryIO, remaining: int) -> None:
        self.file = file
        self.remaining = remaining

    def pump(self, conn: TcpConnection, state: HttpState) -> None:
        if state.streamer is not self:
            return
        try:
            while self.remaining > 0 and not conn.writing_paused:
                if conn.status >= _CLOSING:
                    self.close()
                    return
                # no piece over the send buffer, so a small buffer bounds what is queued
                data = self.file.read(min(_PIECE, self.remaining, conn.max_send_buffer_size))
                if not data:  # the file shrank under us: the promised length cannot be met
                    raise OSError(f"file ended {self.remaining} bytes early")
                self.remaining -= len(data)
                conn.write(data)
        except OSError as exc:
            conn.report("file response", exc)
            self.close()
            state.streamer = None
            conn.close()
            return
        if self.remaining <= 0:
            self.close()
            state.streamer = None
            state.exchange.end()  # (nothing to write: the length ends the body)
            complete(conn, state)

    def close(self) -> None:
        self.remaining = 0
        self.file.close()


_TEXTUAL = frozenset({"application/javascript", "application/json", "image/svg+xml"})


def _content_type(path: str) -> str:
    """The type of a file from its name; text gets ``charset=utf-8`` (what a browser
    would otherwise guess is often wrong); a compressed file is plain bytes."""
    guessed, encoding = mimetypes.guess_type(path)
    if not guessed or encoding:
        return "application/octet-stream"
    if guessed.startswith("text/") or guessed in _TEXTUAL:
        return f"{guessed}; charset=utf-8"
    return guessed


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) of a single ``bytes=`` range, None to ignore the header (unknown
    unit, several ranges, bad syntax), (-1, -1) when it cannot be satisfied."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if not first_text:  # the last N bytes
            count = int(last_text)
            if count <= 0:
                return (-1, -1)
            return (max(0, size - count), size - 1)
        first = int(first_text)
        last = int(last_text) if last_text else max(first, size - 1)
    except ValueError:
        return None
    if first < 0 or last < first:
        return None
    if first >= size:
        return (-1, -1)
    return (first, min(last, size - 1))


def _not_modified(request: Request, mtime: int) -> bool:
    since = request.headers.get("if-modified-since")
    if since is None or "if-none-match" in request.headers:
        return False
    try:
        return mtime <= int(parsedate_to_datetime(since).timestamp())
    except (TypeError, ValueError, OverflowError):
        return False


def send_file(conn: TcpConnection, state: HttpState, request: Request, response: Response) -> None:
    assert response._file is not None
    path, offset, length = response._file
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise FileNotFoundError(path)
    except OSError:
        _plain(conn, state, request, Response(404, body="Not Found"))
        return
    size = info.st_size
    mtime = int(info.st_mtime)
    modified = formatdate(mtime, usegmt=True)
    headers = response._headers
    if "content-type" not in headers:
        response.header("Content-Type", _content_type(path))
    if "last-modified" not in headers:
        response.header("Last-Modified", modified)
    response.header("Accept-Ranges", "bytes")
    status = response._status
    if status == 200 and not offset and not length:
        if _not_modified(request, mtime):
            response.with_status(304)
            _plain(conn, state, request, response)
            return
        wanted = request.headers.get("range")
        if_range = request.headers.get("if-range")
        if wanted is not None and (if_range is None or if_range == modified):
            span = _byte_range(wanted, size)
            if span == (-1, -1):
                response.with_status(416).header("Content-Range", f"bytes */{size}")
                _plain(conn, state, request, response)
                return
            if span is not None:
                offset, length = span[0], span[1] - span[0] + 1
                response.with_status(206).header(
                    "Content-Range", f"bytes {span[0]}-{span[1]}/{size}"
                )
    offset = min(offset, size)
    length = size - offset if not length else min(length, size - offset)
    exchange = state.exchange
    head = exchange.encode_head(response, length, extra=cookie_line(request))
    if not exchange.outstanding or not length:  # a HEAD request, or an empty file
        if exchange.outstanding:
            exchange.end()
        conn.write(head)
        complete(conn, state)
        return
    try:
        file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by the streamer)
        file.seek(offset)
        first = file.read(min(_PIECE, length, conn.max_send_buffer_size))
    except OSError as exc:
        conn.report("file response", exc)
        fail(conn, state, 500, "")
        return
    conn.write(head + first)
    if len(first) >= length:
        file.close()
        exchange.end()
        complete(conn, state)
        return
    streamer = state.streamer = FileStreamer(file, length - len(first))
    current_loop().call_soon(streamer.pump, conn, state)


def _plain(conn: TcpConnection, state: HttpState, request: Request, response: Response) -> None:
    response._file = None
    send_plain(conn, state, request, response)
