"""Writing what the exchange machine encodes for a handler's sends, and completing a
response (which lets the next pipelined request go on)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from workerman.core import ConnectionStatus, current_loop

from ._response import Chunk, ServerSentEvents

if TYPE_CHECKING:
    from workerman.core import TcpConnection

    from ._protocol import HttpState
    from ._request import Request
    from ._response import Response

_CLOSING: Final = ConnectionStatus.CLOSING


def cookie_line(request: Request) -> bytes:
    """The ``Set-Cookie`` header line a session this request started needs, or b""."""
    cookie = request._session_cookie()
    return b"" if cookie is None else b"Set-Cookie: " + cookie.encode("latin-1") + b"\r\n"


def send_plain(conn: TcpConnection, state: HttpState, request: Request, response: Response) -> None:
    """Send a response whose body is in memory (or streamed by later sends)."""
    exchange = state.exchange
    data, body = exchange.encode_apart(response, cookie_line(request))
    conn.write(data)
    if body:
        conn.write(body)
    if not exchange.outstanding:
        complete(conn, state)


def _stream(conn: TcpConnection, state: HttpState, message: Any) -> None:
    """A send while a chunked or event-stream response is open."""
    exchange = state.exchange
    kind = type(message)
    if kind is Chunk:
        data = message.data
        if not data:  # the end
            end = exchange.end()
            if end:
                conn.write(end)
            complete(conn, state)
            return
    elif kind is ServerSentEvents or kind is str:
        data = message.encode()
    elif kind is bytes:
        data = message
    else:
        raise TypeError(
            f"a streaming response takes Chunk, ServerSentEvents, str or bytes, "
            f"not {type(message).__name__}"
        )
    piece = exchange.piece(data)
    if piece:
        conn.write(piece)


def complete(conn: TcpConnection, state: HttpState) -> None:
    """The response to the current request has gone out in full (the exchange knows)."""
    request = state.request
    state.request = None
    if request is not None:
        request._finish()
    if state.exchange.close_after:
        conn.close()
    elif state.held:
        state.held = False
        # the next pipelined request runs on the loop, not inside this send
        current_loop().call_soon(conn.release)


def fail(conn: TcpConnection, state: HttpState, status: int, reason: str) -> None:
    """Answer the current request with an error status and close, unless its response
    has already begun (then just close)."""
    data = state.exchange.fail(status, reason) if conn.status < _CLOSING else None
    if data is None:
        conn.close()
        return
    conn.write(data)
    complete(conn, state)
