"""WebSocket for workerman (RFC 6455, with permessage-deflate from RFC 7692).

``Worker("websocket://0.0.0.0:8000")`` serves WebSocket clients;
``AsyncTcpConnection("ws://host:8000/path")`` (or ``wss://``) is a client;
:func:`upgrade` turns a request on an ``http://`` worker into a WebSocket, so one port
serves pages and sockets. ``connection.websocket`` holds a connection's WebSocket
settings, callbacks and state (:class:`WebSocketState`).
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._client import Ws as Ws
from ._frames import CloseCode as CloseCode
from ._frames import WebSocketError as WebSocketError
from ._handshake import HandshakeError as HandshakeError
from ._server import WebSocket as WebSocket
from ._server import upgrade as upgrade
from ._state import WebSocketState as WebSocketState

if _TYPE_CHECKING:
    from .._connection import TcpConnection

__all__ = [
    "CloseCode",
    "HandshakeError",
    "WebSocket",
    "WebSocketError",
    "WebSocketState",
    "Ws",
    "upgrade",
]


def _attach(conn: "TcpConnection") -> WebSocketState:
    """The WebSocket state of ``conn``, made on first use."""
    from . import _client, _server

    side = getattr(conn.protocol, "_server_side", None)
    if side is None:
        raise AttributeError(f"{conn!r} is not a WebSocket connection")
    return _server.state_of(conn) if side else _client.state_of(conn)
