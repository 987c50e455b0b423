"""Ws: the ``ws://`` and ``wss://`` client protocol of an AsyncTcpConnection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._callbacks import invoke
from .._statistics import statistics
from ._deflate import client_accept, client_offer
from ._frames import WebSocketError
from ._handshake import (
    check_server_response,
    client_request,
    new_key,
    parse_response_head,
)
from ._server import StreamCodec
from ._state import CLOSED, HANDSHAKE, OPEN, WebSocketState

if TYPE_CHECKING:
    from .._connection import TcpConnection

__all__ = ["Ws"]

_CLOSING = 4
_MAX_HEAD = 16 * 1024


def state_of(conn: TcpConnection) -> WebSocketState:
    state = conn._pstate
    if not isinstance(state, WebSocketState):
        state = conn._pstate = WebSocketState(conn, False)
    return state


def _made(conn: TcpConnection) -> None:
    """Connected: send the upgrade request before anything else."""
    state = state_of(conn)
    state.conn = conn
    state.stage = HANDSHAKE
    state.decoder = None
    state.deflate = None
    state.backlog = None
    state.key = new_key()
    address = conn._address  # type: ignore[attr-defined]
    try:
        request = client_request(
            address.host,
            address.port,
            address.target or "/",
            state.key,
            secure=conn._ssl is not None,  # type: ignore[attr-defined]
            origin=state.origin,
            subprotocols=state.subprotocols,
            extensions=client_offer() if state.compression else None,
            headers=state.headers.items(),
        )
    except (TypeError, ValueError) as exc:  # a bad path or header: the user's, reported
        _failed(conn, str(exc))
        return
    conn.send(request, raw=True)


def _failed(conn: TcpConnection, reason: str) -> None:
    from .._connection import CONNECT_FAIL

    statistics.protocol_errors += 1
    conn._recv = None
    conn._error(CONNECT_FAIL, f"WebSocket handshake failed: {reason}")
    conn.close()


def _parse(conn: TcpConnection, buffer: bytes) -> None:
    state = state_of(conn)
    stage = state.stage
    if stage in (OPEN, CLOSED):
        if state.decoder is not None:
            state.receive(conn, buffer)
        return
    end = buffer.find(b"\r\n\r\n")
    if end < 0 or end > _MAX_HEAD:
        if len(buffer) > _MAX_HEAD:
            _failed(conn, "response head too large")
        else:
            conn._recv = bytearray(buffer)
        return
    try:
        status, reason, headers = parse_response_head(buffer[:end])
        state.subprotocol = check_server_response(
            status,
            headers,
            state.key,
            subprotocols=state.subprotocols,
            extensions_offered=state.compression,
        )
        accepted = headers.get("sec-websocket-extensions")
        if accepted:
            state.deflate = client_accept(accepted)
    except WebSocketError as exc:
        _failed(conn, exc.reason)
        return
    state.opened(conn, conn.max_package_size)
    if state.ping_interval > 0:
        from .._loop import current_loop

        state.timer = current_loop().repeat(state.ping_interval, state.ping)
    if state.on_connect is not None:
        from ..http._response import Response

        response = Response(status)
        response._reason = reason
        for name, value in headers.items():
            response._headers[name] = (name, value)
        invoke(state.on_connect, (conn, response), lambda: conn._where("on_websocket_connect"))
    rest = buffer[end + 4 :]
    if rest and conn._status < _CLOSING:
        if conn._busy:
            conn._recv = bytearray(rest)
        else:
            state.receive(conn, rest)


class Ws(StreamCodec):
    """RFC 6455 client side: ``AsyncTcpConnection("ws://host:port/path?query")``, or
    ``wss://`` for TLS.

    The opening handshake goes out once connected; messages sent before it is done wait
    for it. Set ``connection.websocket`` options (origin, subprotocols, headers,
    ping_interval, compression) and callbacks before ``connect()``.
    """

    _server_side = False
    _parse = staticmethod(_parse)
    _made = staticmethod(_made)
