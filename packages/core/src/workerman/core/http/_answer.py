"""Turning what a handler sends into bytes on the wire: heads, bodies, streams, errors,
and completing a response (which lets the next pipelined request go on)."""

from __future__ import annotations

from collections.abc import Sequence
from time import time as _time
from typing import TYPE_CHECKING, Any

from workerman.core import ConnectionStatus, current_loop

from ._response import (
    Chunk,
    Response,
    ServerSentEvents,
    date_header,
    reason_of,
    status_line,
)

if TYPE_CHECKING:
    from workerman.core import TcpConnection

    from ._protocol import HttpState
    from ._request import Request

_CLOSING = ConnectionStatus.CLOSING
_SERVER = b"Server: workerman\r\n"
_HTML = b"Content-Type: text/html;charset=utf-8\r\n"
_NO_BODY = frozenset({204, 304})

# streaming modes of a response whose head has gone out
_CHUNKED = 1
_CHUNKED_RAW = 2  # an HTTP/1.0 client: chunks go out bare and the close ends the body
_EVENTS = 3
_DISCARD = 4  # a chunked answer to HEAD: chunks are dropped, the last one ends it


def complete(conn: TcpConnection, state: HttpState) -> None:
    """The response to the current request has gone out in full."""
    request = state.request
    state.request = None
    state.pending = False
    state.streaming = 0
    if request is not None:
        request._finish()
    if state.close_after:
        conn.close()
    elif state.held:
        state.held = False
        # the next pipelined request runs on the loop, not inside this send
        current_loop().call_soon(conn.release)


def fail(conn: TcpConnection, state: HttpState, status: int, reason: str) -> None:
    """Answer the current request with an error status and close, unless its response
    has already begun (then just close)."""
    if state.streaming or state.streamer is not None or conn.status >= _CLOSING:
        conn.close()
        return
    state.close_after = True
    body = (reason or reason_of(status)).encode()
    conn.write(error_bytes(status, body))
    complete(conn, state)


def error_bytes(status: int, body: bytes, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """A whole plain-text error response that closes the connection, with ``headers``."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("latin-1")
    return b"".join(
        (
            status_line(status, reason_of(status)),
            _SERVER,
            date_header(),
            b"Content-Type: text/plain;charset=utf-8\r\nConnection: close\r\n",
            extra,
            b"Content-Length: %d\r\n\r\n" % len(body),
            body,
        )
    )


_LENGTH = frozenset({"content-length"})
_FRAMING = frozenset({"content-length", "transfer-encoding"})


def _head(
    response: Response, request: Request, state: HttpState, length: int | None
) -> list[bytes]:
    """The head of ``response`` as a list of lines, blank line included."""
    status = response._status
    version = response._version or request.protocol_version
    headers = response._headers
    lines = [status_line(status, response._reason or reason_of(status), version)]
    if "server" not in headers:
        lines.append(_SERVER)
    if "date" not in headers:
        lines.append(date_header())
    if "content-type" not in headers and status not in _NO_BODY:
        lines.append(_HTML)
    given = headers.get("connection")
    if given is not None:
        if "close" in str(given[1]).lower():
            state.close_after = True
    elif state.close_after:
        lines.append(b"Connection: close\r\n")
    elif version == "1.0":
        lines.append(b"Connection: keep-alive\r\n")
    if length is not None and status not in _NO_BODY and status >= 200:
        lines.append(b"Content-Length: %d\r\n" % length)
    cookie = request._session_cookie()
    if cookie is not None:
        lines.append(b"Set-Cookie: " + cookie.encode("latin-1") + b"\r\n")
    raw = state.streaming == _CHUNKED_RAW
    lines.extend(response._head_fields(_FRAMING if raw else _LENGTH))
    lines.append(b"\r\n")
    return lines


_hello_heads: dict[int, bytes] = {}  # by body length, for the current second
_hello_until = 0.0


#: a body at least this large is written apart from its head, not copied into one piece
#: with it (the connection hands a large body to the kernel in pieces as the peer reads)
JOIN_MAX = 64 * 1024


def write_hello(conn: TcpConnection, body: bytes) -> None:
    """Write a 200 text/html keep-alive response: the head is cached per length and
    second (a large body's is not, and it is written apart: see JOIN_MAX)."""
    global _hello_until
    now = _time()
    if now >= _hello_until:
        _hello_heads.clear()
        _hello_until = int(now) + 1.0
    size = len(body)
    head = _hello_heads.get(size)
    if head is None:
        head = b"".join(
            (
                b"HTTP/1.1 200 OK\r\n",
                _SERVER,
                date_header(),
                _HTML,
                b"Content-Length: %d\r\n\r\n" % size,
            )
        )
        if size >= JOIN_MAX:
            conn.write(head)
            conn.write(body)
            return
        if len(_hello_heads) < 64:
            _hello_heads[size] = head
    conn.write(head + body)


def send_plain(conn: TcpConnection, state: HttpState, request: Request, response: Response) -> None:
    """Send a response whose body is in memory (or streamed by later sends)."""
    headers = response._headers
    head_only = request.method == "HEAD"
    coding = headers.get("transfer-encoding")
    kind = headers.get("content-type")
    if coding is not None and "chunked" in str(coding[1]).lower():
        if request.protocol_version == "1.0":
            state.close_after = True
            state.streaming = _CHUNKED_RAW
        else:
            state.streaming = _CHUNKED
        lines = _head(response, request, state, None)
        if head_only:  # the handler still sends its chunks: the response ends with the last
            state.streaming = _DISCARD
            conn.write(b"".join(lines))
            return
        if response._body:
            lines.append(_chunk(state, response._body))
    elif kind is not None and str(kind[1]).lower().startswith("text/event-stream"):
        if "cache-control" not in headers:
            response.header("Cache-Control", "no-cache")
        state.streaming = _EVENTS
        if head_only:  # events have no last one to end the response with: close after it
            state.close_after = True
        lines = _head(response, request, state, None)
        if head_only:
            conn.write(b"".join(lines))
            complete(conn, state)
            return
        lines.append(response._body)
    else:
        body = response._body
        lines = _head(response, request, state, len(body))
        if head_only or response._status in _NO_BODY:
            conn.write(b"".join(lines))
        elif len(body) < JOIN_MAX:
            lines.append(body)
            conn.write(b"".join(lines))
        else:
            conn.write(b"".join(lines))
            conn.write(body)
        complete(conn, state)
        return
    conn.write(b"".join(lines))


def _chunk(state: HttpState, data: bytes) -> bytes:
    """``data`` framed for the open stream: a chunk, or bare (HTTP/1.0, events)."""
    if state.streaming != _CHUNKED:
        return data
    return Chunk(data).encode() if data else b""


def _stream(conn: TcpConnection, state: HttpState, message: Any) -> None:
    """A send while a chunked or event-stream response is open."""
    kind = type(message)
    if kind is Chunk:
        data = message.data
        if not data:  # the end
            if state.streaming == _CHUNKED:
                conn.write(b"0\r\n\r\n")
            elif state.streaming == _EVENTS:  # no framing to end it with but the close
                state.close_after = True
            complete(conn, state)
            return
        if state.streaming != _DISCARD:
            conn.write(_chunk(state, data))
    elif kind is ServerSentEvents or kind is str or kind is bytes:
        if state.streaming != _DISCARD:
            data = message if kind is bytes else message.encode()
            conn.write(_chunk(state, data))
    else:
        raise TypeError(
            f"a streaming response takes Chunk, ServerSentEvents, str or bytes, "
            f"not {type(message).__name__}"
        )
