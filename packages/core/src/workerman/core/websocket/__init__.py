"""WebSocket for workerman (RFC 6455, with permessage-deflate from RFC 7692).

``Worker("websocket://0.0.0.0:8000")`` serves WebSocket clients;
``AsyncTcpConnection("ws://host:8000/path")`` (or ``wss://``) is a client;
:func:`upgrade` turns a request on an ``http://`` worker into a WebSocket, so one port
serves pages and sockets. ``connection.websocket`` holds a connection's WebSocket
settings, callbacks and state (:class:`WebSocketState`).
"""

from ._client import Ws as Ws
from ._frames import CloseCode as CloseCode
from ._frames import WebSocketError as WebSocketError
from ._handshake import HandshakeError as HandshakeError
from ._server import WebSocket as WebSocket
from ._server import WebSocketOptions as WebSocketOptions
from ._server import upgrade as upgrade
from ._state import WebSocketState as WebSocketState

__all__ = [
    "CloseCode",
    "HandshakeError",
    "WebSocket",
    "WebSocketError",
    "WebSocketOptions",
    "WebSocketState",
    "Ws",
    "upgrade",
]
