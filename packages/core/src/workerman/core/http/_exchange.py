"""One request, one response: handing requests to the handler and turning what it sends
into bytes, in request order.

A connection handles one request at a time. The next pipelined request waits, its bytes
kept, until the response to the current one is complete: a whole body sent, the last
chunk of a chunked response, or the last byte of a file. So responses leave in request
order whether the handler answers at once, from an async handler, or from a callback
long after it returned.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from inspect import isawaitable
from time import time as _time
from typing import TYPE_CHECKING, Any

from .._callbacks import report
from .._statistics import statistics
from ._errors import RequestError
from ._response import (
    Chunk,
    Response,
    ServerSentEvents,
    date_header,
    reason_of,
    status_line,
)

if TYPE_CHECKING:
    from .._connection import TcpConnection
    from ._file import FileStreamer
    from ._request import Request

logger = logging.getLogger("workerman.core")

_CLOSING = 4
_CLOSED = 8
_SERVER = b"Server: workerman\r\n"
_HTML = b"Content-Type: text/html;charset=utf-8\r\n"
_NO_BODY = frozenset({204, 304})

# streaming modes of a response whose head has gone out
_CHUNKED = 1
_CHUNKED_RAW = 2  # an HTTP/1.0 client: chunks go out bare and the close ends the body
_EVENTS = 3
_DISCARD = 4  # a chunked answer to HEAD: chunks are dropped, the last one ends it


class HttpState:
    """The HTTP side of one connection."""

    __slots__ = (
        "close_after",
        "continued",
        "cparts",
        "cpos",
        "csize",
        "discarding",
        "pending",
        "request",
        "stalled",
        "streamer",
        "streaming",
        "task",
        "timer",
    )

    def __init__(self) -> None:
        self.request: Request | None = None
        self.pending = False  # a request waits for its response to complete
        self.task = False  # an async handler is running
        self.stalled = False  # no request is read until the client takes its answers
        self.streaming = 0
        self.close_after = False
        self.continued = False
        self.timer = 0
        self.streamer: FileStreamer | None = None
        self.cpos = 0  # chunked request body: where decoding resumes, from the request's start
        self.cparts: list[bytes] = []
        self.csize = 0
        self.discarding = False  # answered an error and lingering: input is dropped

    def closing(self, conn: TcpConnection) -> None:
        return None

    def drained(self, conn: TcpConnection) -> None:
        streamer = self.streamer
        if streamer is not None:
            streamer.pump(conn, self)
        if self.stalled:
            self.stalled = False
            conn._handler_done()

    def lost(self, conn: TcpConnection) -> None:
        """The connection is gone: stop timers and streams, drop temporary files."""
        if self.timer:
            from .._loop import current_loop_or_none

            loop = current_loop_or_none()
            if loop is not None:
                loop.cancel(self.timer)
            self.timer = 0
        if self.streamer is not None:
            self.streamer.close()
            self.streamer = None
        request = self.request
        if request is not None:
            request._cleanup()
        conn._recv = None  # pipelined requests of a gone client are not handled
        if not self.task:
            conn._busy = False  # nothing runs that on_close must wait for


def dispatch(conn: TcpConnection, state: HttpState, request: Request) -> None:
    """Call ``on_message`` with ``request``; the connection stays busy (reading no more
    requests) until the response is complete."""
    state.request = request
    state.pending = True
    state.streaming = 0
    state.close_after = not request.keep_alive
    state.continued = False
    callback = conn.on_message
    if callback is None:
        fail(conn, state, 404, "no handler")
        return
    try:
        result = callback(conn, request)
    except RequestError as exc:
        if state.request is request:  # else its answer is out, and stands
            fail(conn, state, exc.status, exc.reason)
        return
    except Exception as exc:
        report(conn._where("on_message"), exc)
        if state.request is request:
            fail(conn, state, 500, "")
        return
    if result is not None and isawaitable(result):
        from .._loop import current_loop

        state.task = True
        conn._busy = True
        conn._update_reading()
        current_loop().spawn_awaitable(
            _run(conn, state, request, result),
            lambda: conn._where("on_message"),
            lambda: _task_done(conn, state),
        )
    elif state.pending:
        conn._busy = True
        conn._update_reading()


async def _run(conn: TcpConnection, state: HttpState, request: Request, awaitable: Any) -> None:
    try:
        await awaitable
    except RequestError as exc:
        if state.request is request:
            fail(conn, state, exc.status, exc.reason)
    except Exception as exc:
        report(conn._where("on_message"), exc)
        if state.request is request:
            fail(conn, state, 500, "")


def _task_done(conn: TcpConnection, state: HttpState) -> None:
    state.task = False
    # a gone connection's response never completes: on_close waits only for the task
    if not state.pending or conn._status == _CLOSED:
        conn._handler_done()


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
    elif conn._busy and not state.task:
        from .._loop import current_loop

        # the next pipelined request runs on the loop, not inside this send
        current_loop().call_soon(conn._handler_done)


def fail(conn: TcpConnection, state: HttpState, status: int, reason: str) -> None:
    """Answer the current request with an error status and close, unless its response
    has already begun (then just close)."""
    if state.streaming or state.streamer is not None or conn._status >= _CLOSING:
        conn.close()
        return
    state.close_after = True
    body = (reason or reason_of(status)).encode()
    conn.send(error_bytes(status, body), raw=True)
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


def reject(conn: TcpConnection, status: int, reason: str) -> None:
    """Bytes that are not an acceptable request: count, log, answer ``status``, close."""
    statistics.protocol_errors += 1
    logger.warning("%s closed: HTTP %d %s", conn._where("connection"), status, reason)
    conn._recv = None
    conn._want = 0
    state = conn._pstate
    if state is not None and state.request is not None:
        fail(conn, state, status, reason)
        return
    if conn._status < _CLOSING:
        _linger(conn, state, error_bytes(status, reason.encode()))


def _linger(conn: TcpConnection, state: HttpState | None, data: bytes) -> None:
    """Send ``data``, end our side, and read and drop what the client still sends for up
    to ``Http.linger_timeout`` seconds (or until it closes too). Closing at once, with its
    request body still arriving, would make the kernel reset the connection, and the
    client would lose the answer unread."""
    transport = conn._transport
    can_write_eof = getattr(transport, "can_write_eof", None)
    timeout = getattr(conn.protocol, "linger_timeout", 0)
    if state is None or can_write_eof is None or not can_write_eof() or timeout <= 0:
        conn.close(data, raw=True)
        return
    conn.send(data, raw=True)
    conn._flush()
    state.discarding = True
    try:
        transport.write_eof()
    except (OSError, RuntimeError):
        conn.close()
        return
    from .._loop import current_loop

    if state.timer:
        current_loop().cancel(state.timer)
    state.timer = current_loop().delay(timeout, conn.close)


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


def _hello(body: bytes) -> bytes:
    """A 200 text/html keep-alive response: the head is cached per length and second."""
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
        if len(_hello_heads) < 64:
            _hello_heads[size] = head
    return head + body


def encode(message: Any, conn: TcpConnection) -> bytes:
    """Send ``message`` as (part of) the response to the current request.

    The bytes are queued here, in order with completing the response, so this always
    returns b"" to the connection's send().
    """
    state: HttpState | None = conn._pstate
    request = state.request if state is not None else None
    if state is None or request is None:
        raise RuntimeError("no HTTP request on this connection is waiting for a response")
    kind = type(message)
    if state.streaming:
        _stream(conn, state, message)
        return b""
    if kind is str or kind is bytes:
        body = message.encode() if kind is str else message
        if (
            request.protocol_version == "1.1"
            and not state.close_after
            and request._session is None
            and request.method != "HEAD"
        ):
            data = _hello(body)
            batch = conn._batch
            if batch is not None and not conn._unsent and conn._batch_size < conn._max_send:
                batch.append(data)  # what send(data, raw=True) would do, minus the detour
                conn._batch_size += len(data)
            else:
                conn.send(data, raw=True)
            if conn._busy or request._files:
                complete(conn, state)
            else:  # complete() with nothing to clean up and no one waiting
                state.request = None
                state.pending = False
            return b""
        message = Response(200, body=body)
    elif not isinstance(message, Response):
        raise TypeError(
            f"an HTTP connection sends str, bytes or Response, not {type(message).__name__}"
        )
    send_response(conn, state, request, message)
    return b""


def send_response(
    conn: TcpConnection, state: HttpState, request: Request, response: Response
) -> None:
    if response._file is not None:
        from ._file import send_file

        send_file(conn, state, request, response)
        return
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
            conn.send(b"".join(lines), raw=True)
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
            conn.send(b"".join(lines), raw=True)
            complete(conn, state)
            return
        lines.append(response._body)
    else:
        body = response._body
        lines = _head(response, request, state, len(body))
        if not head_only and response._status not in _NO_BODY:
            lines.append(body)
        conn.send(b"".join(lines), raw=True)
        complete(conn, state)
        return
    conn.send(b"".join(lines), raw=True)


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
                conn.send(b"0\r\n\r\n", raw=True)
            elif state.streaming == _EVENTS:  # no framing to end it with but the close
                state.close_after = True
            complete(conn, state)
            return
        if state.streaming != _DISCARD:
            conn.send(_chunk(state, data), raw=True)
    elif kind is ServerSentEvents or kind is str or kind is bytes:
        if state.streaming != _DISCARD:
            data = message if kind is bytes else message.encode()
            conn.send(_chunk(state, data), raw=True)
    else:
        raise TypeError(
            f"a streaming response takes Chunk, ServerSentEvents, str or bytes, "
            f"not {type(message).__name__}"
        )
