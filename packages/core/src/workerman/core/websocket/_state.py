"""The WebSocket side of one connection, shared by the server and the client codecs:
frames in, messages to ``on_message``, control frames, the closing handshake."""

from __future__ import annotations

import logging
from collections.abc import Callable
from inspect import isawaitable
from typing import TYPE_CHECKING, Any

from .._callbacks import invoke, report
from .._statistics import statistics
from ._deflate import PerMessageDeflate
from ._frames import (
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    CloseCode,
    FrameDecoder,
    WebSocketError,
    encode_close,
    encode_frame,
    encode_message,
)

if TYPE_CHECKING:
    from .._connection import TcpConnection

__all__ = ["WebSocketState"]

logger = logging.getLogger("workerman.core")

_CLOSING = 4
HANDSHAKE = 0  # waiting for the opening handshake
ACCEPTING = 1  # server: on_websocket_connect runs; sends wait
OPEN = 2
CLOSED = 3  # a Close frame has been sent

Callback = Callable[..., Any] | None


class WebSocketState:
    """What ``connection.websocket`` gives: the WebSocket settings, callbacks and state
    of one connection.

    Callbacks (set them on a client before ``connect()``; a server connection takes
    them from its worker's ``on_websocket_*`` attributes):

    - ``on_connect(connection, request_or_response)``: the handshake is done (client:
      the server's 101 :class:`~workerman.core.http.Response`).
    - ``on_ping(connection, payload)``, ``on_pong(connection, payload)``: a Ping (it
      has been answered already) or Pong arrived.
    - ``on_close(connection, code, reason)``: the peer sent a Close frame.

    Client settings: ``origin``, ``subprotocols`` (offered, in order), ``headers``
    (more request headers), ``ping_interval`` (seconds between pings, 0: none) and
    ``compression`` (offer permessage-deflate). After the handshake ``subprotocol`` is
    the one agreed on and ``compressed`` says whether permessage-deflate is in use.
    """

    __slots__ = (
        "alive",
        "backlog",
        "compression",
        "conn",
        "decoder",
        "deflate",
        "headers",
        "key",
        "on_close",
        "on_connect",
        "on_ping",
        "on_pong",
        "origin",
        "ping_interval",
        "pinged",
        "queued",
        "server_side",
        "stage",
        "subprotocol",
        "subprotocols",
        "timer",
    )

    def __init__(self, conn: TcpConnection, server_side: bool) -> None:
        self.conn: TcpConnection | None = conn  # dropped when the connection is lost
        self.server_side = server_side
        self.stage = HANDSHAKE
        self.decoder: FrameDecoder | None = None
        self.deflate: PerMessageDeflate | None = None
        self.queued: list[tuple[int, bytes]] | None = None
        self.backlog: list[tuple[int, Any]] | None = None
        self.alive = True
        self.pinged = False
        self.subprotocol: str | None = None
        self.key = ""
        self.timer = 0
        self.on_connect: Callback = None
        self.on_ping: Callback = None
        self.on_pong: Callback = None
        self.on_close: Callback = None
        self.origin: str | None = None
        self.subprotocols: list[str] = []
        self.headers: dict[str, str] = {}
        self.ping_interval = 0.0
        self.compression = True

    @property
    def open(self) -> bool:
        """The handshake is done and no Close frame has been sent."""
        return self.stage == OPEN

    @property
    def compressed(self) -> bool:
        return self.deflate is not None

    # -- opening ---------------------------------------------------------------------

    def opened(self, conn: TcpConnection, max_size: int) -> None:
        """The handshake is done: decode frames, and send what waited for it."""
        self.stage = OPEN
        self.decoder = FrameDecoder(
            server_side=self.server_side, max_message_size=max_size, deflate=self.deflate
        )
        queued, self.queued = self.queued, None
        if queued:
            conn.send(b"".join(self.frame(op, payload) for op, payload in queued), raw=True)

    def frame(self, opcode: int, payload: bytes) -> bytes:
        return encode_message(opcode, payload, mask=not self.server_side, deflate=self.deflate)

    # -- receiving -------------------------------------------------------------------

    def receive(self, conn: TcpConnection, data: bytes) -> None:
        """Decode ``data`` and handle every event, in order."""
        self.alive = True
        self.pinged = False
        decoder = self.decoder
        assert decoder is not None
        error: WebSocketError | None = None
        try:
            events = decoder.feed(data) if data else []
        except WebSocketError as exc:
            events, error = exc.events, exc
        backlog = self.backlog
        if backlog:
            self.backlog = None
            events = backlog + events
        callback = conn.on_message
        messages = 0
        try:
            for index, (opcode, payload) in enumerate(events):
                if 0 < opcode < 3:  # OP_TEXT, OP_BINARY
                    messages += 1
                    if callback is not None:
                        try:
                            result = callback(conn, payload)
                        except Exception as exc:
                            report(conn._where("on_message"), exc)
                        else:
                            if result is not None and isawaitable(result):
                                conn._start_handler(result)
                        callback = conn.on_message  # a handler may replace it
                elif opcode == OP_PING:
                    if self.stage == OPEN:
                        pong = encode_frame(OP_PONG, payload, mask=not self.server_side)
                        conn.send(pong, raw=True)
                    self._notify(conn, self.on_ping, "on_websocket_ping", payload)
                elif opcode == OP_PONG:
                    self._notify(conn, self.on_pong, "on_websocket_pong", payload)
                elif opcode == OP_CLOSE:
                    self._peer_closed(conn, *payload)
                    return
                else:  # an error found after events an async handler made wait
                    self.fail(conn, payload.code, payload.reason)
                    return
                if conn._status >= _CLOSING:
                    return
                if conn._busy:  # an async handler runs: the rest waits for it
                    rest = events[index + 1 :]
                    if rest or error is not None:
                        self.backlog = rest
                        if error is not None:
                            self.backlog.append((-1, error))
                        if conn._recv is None:
                            conn._recv = bytearray()  # so the connection comes back here
                    return
        finally:
            statistics.total_request += messages
        if error is not None:
            self.fail(conn, error.code, error.reason)

    def _notify(self, conn: TcpConnection, callback: Callback, what: str, *args: Any) -> None:
        if callback is not None:
            invoke(callback, (conn, *args), lambda: conn._where(what))

    def _peer_closed(self, conn: TcpConnection, code: int, reason: str) -> None:
        if self.stage != CLOSED:
            reply = CloseCode.NORMAL if code == CloseCode.NO_STATUS else code
            self._send_close(conn, reply, "")
        self._notify(conn, self.on_close, "on_websocket_close", code, reason)
        conn.close()

    # -- closing -------------------------------------------------------------------------

    def _send_close(self, conn: TcpConnection, code: int, reason: str) -> None:
        payload = encode_close(code, reason)  # a code that may not be sent changes nothing
        self.stage = CLOSED
        conn.send(encode_frame(OP_CLOSE, payload, mask=not self.server_side), raw=True)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a Close frame with ``code`` and ``reason``, then close the connection.

        ``CloseCode.NO_STATUS`` (1005) sends a Close frame without a code.

        Raises:
            ValueError: a code that may not be sent (1006, 1015, 0-999, 5000+ ...); the
                WebSocket stays open.
        """
        conn = self.conn
        if conn is None:
            return
        if self.stage == OPEN and conn._status < _CLOSING:
            self._send_close(conn, code, reason)
        conn.close()

    def closing(self, conn: TcpConnection) -> None:
        """``connection.close()`` on an open WebSocket says so with a Close frame (1000);
        on a server connection whose handshake is being decided it refuses the upgrade
        with a 403, so the client sees an answer rather than a dropped connection."""
        if conn._status >= _CLOSING:
            return
        if self.stage == OPEN:
            self._send_close(conn, CloseCode.NORMAL, "")
        elif self.stage == ACCEPTING and self.server_side:
            from ..http._exchange import error_bytes

            self.stage = CLOSED
            self.queued = None
            conn.send(error_bytes(403, b"the server refused the WebSocket"), raw=True)

    def fail(self, conn: TcpConnection, code: int, reason: str) -> None:
        """The peer broke the protocol: count, log, close with ``code``."""
        statistics.protocol_errors += 1
        logger.warning("%s closed: WebSocket %d %s", conn._where("connection"), code, reason)
        conn._recv = None
        if self.stage == OPEN and conn._status < _CLOSING:
            self._send_close(conn, code, reason)
        conn.close()

    def ping(self, payload: bytes = b"") -> bool:
        """Send a Ping (at most 125 bytes); False when the WebSocket is not open."""
        return self._control(OP_PING, payload)

    def pong(self, payload: bytes = b"") -> bool:
        """Send an unsolicited Pong (a one-way heartbeat)."""
        return self._control(OP_PONG, payload)

    def _control(self, opcode: int, payload: bytes) -> bool:
        conn = self.conn
        if conn is None or self.stage != OPEN:
            return False
        conn.send(encode_frame(opcode, payload, mask=not self.server_side), raw=True)
        return True

    # -- connection hooks ---------------------------------------------------------------

    def drained(self, conn: TcpConnection) -> None:
        return None

    def lost(self, conn: TcpConnection) -> None:
        self.stage = CLOSED
        self.conn = None
        self.backlog = None
        if self.timer:
            from .._loop import current_loop_or_none

            loop = current_loop_or_none()
            if loop is not None:
                loop.cancel(self.timer)
            self.timer = 0
