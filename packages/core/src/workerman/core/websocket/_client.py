"""Ws: the ``ws://`` and ``wss://`` client protocol of an AsyncTcpConnection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workerman.core import CONNECT_FAIL, ConnectionStatus, current_loop, statistics
from workerman.core.http import Response

from ._deflate import client_accept, client_offer
from ._frames import WebSocketError
from ._handshake import (
    check_server_response,
    client_request,
    new_key,
    parse_response_head,
)
from ._state import CLOSED, HANDSHAKE, OPEN, WebSocketState

if TYPE_CHECKING:
    from workerman.core import TcpConnection

__all__ = ["Ws"]

_CLOSING = ConnectionStatus.CLOSING
_MAX_HEAD = 16 * 1024


def _made(conn: TcpConnection, state: WebSocketState) -> None:
    """Connected: send the upgrade request before anything else."""
    state.conn = conn
    state.stage = HANDSHAKE
    state.decoder = None
    state.deflate = None
    state.backlog = None
    state.key = new_key()
    try:
        request = client_request(
            getattr(conn, "remote_host", "") or conn.remote_ip,
            conn.remote_port,
            getattr(conn, "remote_path", "/"),
            state.key,
            secure=conn.transport == "ssl",
            origin=state.origin,
            subprotocols=state.subprotocols,
            extensions=client_offer() if state.compression else None,
            headers=state.headers.items(),
        )
    except (TypeError, ValueError) as exc:  # a bad path or header: the user's, reported
        _failed(conn, str(exc))
        return
    conn.write(request)


def _failed(conn: TcpConnection, reason: str) -> None:
    statistics.protocol_errors += 1
    conn.drop_kept()
    conn.notify_error(CONNECT_FAIL, f"WebSocket handshake failed: {reason}")
    conn.close()


def _parse(conn: TcpConnection, state: WebSocketState, buffer: bytes) -> None:
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
            conn.keep(buffer)
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
        state.timer = current_loop().repeat(state.ping_interval, state.ping)
    if state.on_connect is not None:
        response = Response(status)
        response._reason = reason
        for name, value in headers.items():
            response._headers[name] = (name, value)
        conn.call(state.on_connect, "on_websocket_connect", response)
    rest = buffer[end + 4 :]
    if rest and conn.status < _CLOSING:
        if conn.holds:
            conn.keep(rest)
        else:
            state.receive(conn, rest)


class Ws(WebSocketState):
    """RFC 6455 client side: ``AsyncTcpConnection("ws://host:port/path?query")``, or
    ``wss://`` for TLS.

    The opening handshake goes out once connected; messages sent before it is done wait
    for it. Set ``connection.websocket`` options (origin, subprotocols, headers,
    ping_interval, compression) and callbacks before ``connect()``.
    """

    __slots__ = ()

    server_side = False

    def connection_made(self) -> None:
        _made(self.connection, self)

    def data_received(self, data: bytes) -> None:
        _parse(self.connection, self, data)
