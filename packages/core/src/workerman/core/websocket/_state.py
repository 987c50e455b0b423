"""The WebSocket side of one connection, shared by the server and the client codecs:
frames in, messages to ``on_message``, control frames, the closing handshake."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Final

from mypy_extensions import mypyc_attr

from workerman.core import ConnectionStatus, Timer
from workerman.core.http._machine import error_bytes
from workerman.core.protocols import StreamProtocol

from ._deflate import PerMessageDeflate
from ._frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    CloseCode,
    FrameDecoder,
    WebSocketError,
    encode_close,
    encode_frame,
    encode_message,
)

if TYPE_CHECKING:
    from workerman.core import TcpConnection

__all__ = ["WebSocketState"]

_CLOSING: Final = ConnectionStatus.CLOSING
_ESTABLISHED: Final = ConnectionStatus.ESTABLISHED
# (Final: constants in the compiled modules that import them, not namespace look-ups)
HANDSHAKE: Final = 0  # waiting for the opening handshake
ACCEPTING: Final = 1  # server: on_websocket_connect runs; sends wait
OPEN: Final = 2
CLOSED: Final = 3  # a Close frame has been sent

Callback = Callable[..., Any] | None


@mypyc_attr(allow_interpreted_subclasses=True)  # WebSocket, Ws and users' subclasses
class WebSocketState(StreamProtocol):
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

    #: the server side of a connection (frames unmasked) or the client side
    server_side: ClassVar[bool] = True
    #: what ``connection.websocket`` looks for
    is_websocket: ClassVar[bool] = True

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
        "stage",
        "subprotocol",
        "subprotocols",
        "timer",
    )

    def __init__(self, connection: TcpConnection) -> None:
        super().__init__(connection)
        self.conn: TcpConnection | None = connection  # dropped when the connection is lost
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
            conn.write(b"".join(self.frame(op, payload) for op, payload in queued))

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
        # after the last event nothing is left that the connection's state could stop or
        # hold (but an error, which fail() reports whatever the state)
        last = len(events) - 1 if error is None else len(events)
        for index, (opcode, payload) in enumerate(events):
            if 0 < opcode < 3:  # OP_TEXT, OP_BINARY
                conn.deliver(payload)
            elif opcode == OP_PING:
                if self.stage == OPEN:
                    conn.write(encode_frame(OP_PONG, payload, mask=not self.server_side))
                self._notify(conn, self.on_ping, "on_websocket_ping", payload)
            elif opcode == OP_PONG:
                self._notify(conn, self.on_pong, "on_websocket_pong", payload)
            elif opcode == OP_CLOSE:
                self._peer_closed(conn, *payload)
                return
            else:  # an error found after events an async handler made wait
                self.fail(conn, payload.code, payload.reason)
                return
            if index == last:
                return
            if conn.status >= _CLOSING:
                return
            if conn.holds:  # an async handler runs: the rest waits for it
                rest = events[index + 1 :]
                if rest or error is not None:
                    self.backlog = rest
                    if error is not None:
                        self.backlog.append((-1, error))
                    if not conn.recv_buffer_size:
                        conn.keep(b"")  # so the connection comes back here
                return
        if error is not None:
            self.fail(conn, error.code, error.reason)

    def _notify(self, conn: TcpConnection, callback: Callback, what: str, *args: Any) -> None:
        if callback is not None:
            conn.call(callback, what, *args)

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
        conn.write(encode_frame(OP_CLOSE, payload, mask=not self.server_side))

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
        if self.stage == OPEN and conn.status < _CLOSING:
            self._send_close(conn, code, reason)
        conn.close()

    def closing(self) -> None:
        """``connection.close()`` on an open WebSocket says so with a Close frame (1000);
        on a server connection whose handshake is being decided it refuses the upgrade
        with a 403, so the client sees an answer rather than a dropped connection."""
        conn = self.connection
        if conn.status >= _CLOSING:
            return
        if self.stage == OPEN:
            self._send_close(conn, CloseCode.NORMAL, "")
        elif self.stage == ACCEPTING and self.server_side:
            self.stage = CLOSED
            self.queued = None
            conn.write(error_bytes(403, b"the server refused the WebSocket"))

    def draining(self) -> None:
        """A graceful stop: an open server WebSocket sends Close 1001 (going away) and
        closes when the client answers it (or at the worker's graceful deadline)."""
        conn = self.connection
        if self.server_side and self.stage == OPEN and conn.status < _CLOSING:
            self._send_close(conn, CloseCode.GOING_AWAY, "server going away")

    def fail(self, conn: TcpConnection, code: int, reason: str) -> None:
        """The peer broke the protocol: count, log, close with ``code``."""
        if self.stage == OPEN and conn.status < _CLOSING:
            self._send_close(conn, code, reason)
        conn.protocol_error(f"WebSocket {code} {reason}")

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
        conn.write(encode_frame(opcode, payload, mask=not self.server_side))
        return True

    # -- connection hooks ---------------------------------------------------------------

    def send(self, message: Any) -> bool | None:
        """str: a text frame; bytes: a binary frame (compressed when negotiated). Sends
        made before the handshake is done wait for it."""
        return self.connection.write(self.encode(message))

    def encode(self, message: Any) -> bytes:
        """The frame of ``message``; b"" when it waits for the handshake (it is queued)
        or may not be sent (a Close frame has gone out)."""
        if isinstance(message, str):
            opcode, payload = OP_TEXT, message.encode()
        elif isinstance(message, bytes | bytearray | memoryview):
            opcode, payload = OP_BINARY, bytes(message)
        else:
            raise TypeError(
                f"a WebSocket sends str (text) or bytes (binary), not {type(message).__name__}"
            )
        if self.stage == OPEN:
            return self.frame(opcode, payload)
        if self.stage == CLOSED and self.connection.status == _ESTABLISHED:
            return b""  # a Close frame has gone out: nothing may follow it
        # before the handshake, or a client connecting again (the last connection closed)
        if self.queued is None:
            self.queued = []
        self.queued.append((opcode, payload))
        return b""

    def connection_lost(self) -> None:
        self.stage = CLOSED
        self.conn = None
        self.backlog = None
        if self.timer:
            Timer.delete(self.timer)  # nothing to do when the loop has ended
            self.timer = 0
