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
from time import time as _time
from typing import TYPE_CHECKING, Any, ClassVar

from workerman.core import ConnectionStatus, ServerError, current_loop, statistics
from workerman.core.protocols import StreamProtocol

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
    from workerman.core import TcpConnection

    from ._file import FileStreamer
    from ._request import Request

logger = logging.getLogger("workerman.core")

_CLOSING = ConnectionStatus.CLOSING
_SERVER = b"Server: workerman\r\n"
_HTML = b"Content-Type: text/html;charset=utf-8\r\n"
_NO_BODY = frozenset({204, 304})

# streaming modes of a response whose head has gone out
_CHUNKED = 1
_CHUNKED_RAW = 2  # an HTTP/1.0 client: chunks go out bare and the close ends the body
_EVENTS = 3
_DISCARD = 4  # a chunked answer to HEAD: chunks are dropped, the last one ends it


class HttpState(StreamProtocol):
    """The HTTP side of one connection, and the settings of the ``http://`` protocol
    (class attributes; :class:`~workerman.core.http.Http` is the class workers use)."""

    #: a request head (request line and fields) over this many bytes is answered 431.
    max_header_size: ClassVar[int] = 16 * 1024
    #: seconds a client has to finish a request head it has begun (then 408 and close).
    header_timeout: ClassVar[float] = 30.0
    #: after answering a bad request, seconds to keep reading (and dropping) what the client
    #: still sends before closing, so it reads the answer instead of a reset (0: close at once).
    linger_timeout: ClassVar[float] = 5.0
    #: uploaded files one multipart request may carry (413 beyond).
    max_file_uploads: ClassVar[int] = 1024
    #: form fields one urlencoded or multipart body may carry (413 beyond).
    max_fields: ClassVar[int] = 1000
    #: where uploads are spooled ("" for the system's temporary directory).
    upload_tmp_dir: ClassVar[str] = ""

    __slots__ = (
        "close_after",
        "continued",
        "cparts",
        "cpos",
        "csize",
        "held",
        "pending",
        "request",
        "stalled",
        "streamer",
        "streaming",
        "timer",
    )

    def __init__(self, connection: TcpConnection) -> None:
        super().__init__(connection)
        self.request: Request | None = None
        self.pending = False  # a request waits for its response to complete
        self.held = False  # the connection is held until that response is complete
        self.stalled = False  # no request is read until the client takes its answers
        self.streaming = 0
        self.close_after = False
        self.continued = False
        self.timer = 0
        self.streamer: FileStreamer | None = None
        self.cpos = 0  # chunked request body: where decoding resumes, from the request's start
        self.cparts: list[bytes] = []
        self.csize = 0

    def data_received(self, data: bytes) -> None:
        from ._parser import parse_http

        parse_http(self.connection, self, data)

    def send(self, message: Any) -> bool | None:
        """Send ``message`` (str, bytes, Response, Chunk, ServerSentEvents) as (part of)
        the response to the current request, in order with completing it."""
        respond(self.connection, self, message)
        return None

    def drained(self) -> None:
        conn = self.connection
        streamer = self.streamer
        if streamer is not None:
            streamer.pump(conn, self)
        if self.stalled:
            self.stalled = False
            conn.release()

    def connection_lost(self) -> None:
        """The connection is gone: stop timers and streams, drop temporary files."""
        conn = self.connection
        if self.timer:
            cancel_timer(self.timer)
            self.timer = 0
        if self.streamer is not None:
            self.streamer.close()
            self.streamer = None
        request = self.request
        if request is not None:
            request._cleanup()
        conn.drop_kept()  # pipelined requests of a gone client are not handled
        # a gone connection's response never completes: on_close waits only for a task
        if self.held:
            self.held = False
            conn.release()
        if self.stalled:
            self.stalled = False
            conn.release()

    def handler_failed(self, exc: Exception) -> None:
        """``on_message`` raised (now, or in its task): its status, or 500, unless the
        response is already out (then it stands)."""
        if isinstance(exc, RequestError):
            if self.pending:
                fail(self.connection, self, exc.status, exc.reason)
            return
        self.connection.report("on_message", exc)
        if self.pending:
            fail(self.connection, self, 500, "")


def cancel_timer(timer: int) -> None:
    """Cancel a timer of the running loop, if one still runs (a connection can be lost
    as its loop ends)."""
    try:
        current_loop().cancel(timer)
    except ServerError:
        pass


def dispatch(conn: TcpConnection, state: HttpState, request: Request) -> None:
    """Call ``on_message`` with ``request``; the connection stays held (reading no more
    requests) until the response is complete."""
    state.request = request
    state.pending = True
    state.streaming = 0
    state.close_after = not request.keep_alive
    state.continued = False
    if conn.on_message is None:
        fail(conn, state, 404, "no handler")
        return
    conn.deliver(request, state.handler_failed)
    if state.pending and not state.held:
        state.held = True
        conn.hold()


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


def reject(conn: TcpConnection, state: HttpState, status: int, reason: str) -> None:
    """Bytes that are not an acceptable request: count, log, answer ``status``, close.

    The answer lingers (see ``TcpConnection.linger``): the client still sending a body
    we refused reads the answer instead of a reset."""
    statistics.protocol_errors += 1
    logger.warning("%s closed: HTTP %d %s", conn.describe("connection"), status, reason)
    conn.drop_kept()
    if state.request is not None:
        fail(conn, state, status, reason)
        return
    if state.timer:
        cancel_timer(state.timer)
        state.timer = 0
    conn.linger(error_bytes(status, reason.encode()), state.linger_timeout)


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


def respond(conn: TcpConnection, state: HttpState, message: Any) -> None:
    """Send ``message`` as (part of) the response to the current request, and complete
    it when it is whole."""
    request = state.request
    if request is None:
        raise RuntimeError("no HTTP request on this connection is waiting for a response")
    kind = type(message)
    if state.streaming:
        _stream(conn, state, message)
        return
    if kind is str or kind is bytes:
        body = message.encode() if kind is str else message
        if (
            request.protocol_version == "1.1"
            and not state.close_after
            and request._session is None
            and request.method != "HEAD"
        ):
            conn.write(_hello(body))
            if state.held or request._files:
                complete(conn, state)
            else:  # complete() with nothing to clean up and no one waiting
                state.request = None
                state.pending = False
            return
        message = Response(200, body=body)
    elif not isinstance(message, Response):
        raise TypeError(
            f"an HTTP connection sends str, bytes or Response, not {type(message).__name__}"
        )
    send_response(conn, state, request, message)


def send_response(
    conn: TcpConnection, state: HttpState, request: Request, response: Response
) -> None:
    if response._file is not None:
        from ._file import send_file  # the modules use each other: one is imported late

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
        if not head_only and response._status not in _NO_BODY:
            lines.append(body)
        conn.write(b"".join(lines))
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
