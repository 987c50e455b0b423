"""WebSocket: the ``websocket://`` server protocol, and upgrading an ``http://`` request."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, ClassVar, Final

from mypy_extensions import mypyc_attr

from workerman.core import ConnectionStatus, statistics
from workerman.core.http import Request, RequestError, Response
from workerman.core.http._head import analyse
from workerman.core.http._machine import error_bytes
from workerman.core.http._protocol import HttpState
from workerman.core.http._sweep import sweep_every

from ._deflate import server_accept
from ._frames import OP_BINARY, OP_TEXT
from ._handshake import HandshakeError, check_client_request, pick_subprotocol, server_response
from ._state import ACCEPTING, CLOSED, HANDSHAKE, OPEN, WebSocketState

if TYPE_CHECKING:
    from workerman.core import TcpConnection, Worker

__all__ = ["WebSocket", "upgrade"]

logger = logging.getLogger("workerman.core")

_CLOSING: Final = ConnectionStatus.CLOSING
_MAX_HEAD: Final = 16 * 1024
_last: Final[list[Any]] = [None, b""]  # the last message framed, for a broadcast to many
_WINDOW_BITS: Final = 12
_MEM_LEVEL: Final = 5


def _refuse(
    conn: TcpConnection, status: int, reason: str, headers: Sequence[tuple[str, str]] = ()
) -> None:
    statistics.protocol_errors += 1
    logger.warning("%s refused: HTTP %d %s", conn.describe("WebSocket handshake"), status, reason)
    conn.drop_kept()
    state = conn.protocol_state
    if isinstance(state, WebSocketState):
        state.stage = CLOSED  # this answer is the refusal; closing adds none
    conn.close(error_bytes(status, reason.encode(), headers), raw=True)


@dataclasses.dataclass(frozen=True)
class WebSocketOptions:
    """The settings of a ``websocket://`` server (and of ``upgrade()``), carried by the
    protocol class: ``WebSocket.configure(heartbeat=30)`` makes a WebSocket with them,
    for ``Worker("websocket://...", protocol=...)`` or ``upgrade(..., protocol=...)``.

    Attributes:
        subprotocols: the subprotocols this server speaks, in order of preference.
        heartbeat: seconds (30); a client not heard from for a whole interval is pinged,
            and closed with 1011 when silent for another (0: off).
        compression: accept permessage-deflate when a client offers it.
    """

    subprotocols: tuple[str, ...] = ()
    heartbeat: float = 30.0
    compression: bool = True


def _take_worker_settings(state: WebSocket, worker: Worker | None) -> None:
    options = state.options
    state.compression = options.compression
    state.subprotocols = list(options.subprotocols)
    if worker is None:
        return
    state.on_ping = worker.on_websocket_ping
    state.on_pong = worker.on_websocket_pong
    state.on_close = worker.on_websocket_close
    if options.heartbeat:
        _heartbeat(worker, options.heartbeat)


def _handshake(conn: TcpConnection, state: WebSocketState, buffer: bytes) -> None:
    end = buffer.find(b"\r\n\r\n")
    if end < 0 or end > _MAX_HEAD:
        if len(buffer) > _MAX_HEAD:
            _refuse(conn, 431, "request header block too large")
        else:
            conn.keep(buffer)
        return
    head = buffer[:end]
    try:
        info = analyse(head)
        request = Request(conn, head, b"", info.method, info.uri, info.version, True)
        if info.length or info.chunked:
            raise RequestError(400, "a WebSocket upgrade request has no body")
        key = check_client_request(info.method, info.version, request.headers)
    except RequestError as exc:
        _refuse(conn, exc.status, exc.reason)
        return
    except HandshakeError as exc:
        _refuse(conn, exc.status, exc.reason, exc.headers)
        return
    statistics.total_request += 1
    _accept(conn, state, request, key)
    rest = buffer[end + 4 :]
    if rest and conn.status < _CLOSING:
        if conn.holds:
            conn.keep(rest)
        else:
            state.receive(conn, rest)


def _negotiate(state: WebSocketState, request: Request) -> str | None:
    headers = request.headers
    state.subprotocol = pick_subprotocol(headers.get("sec-websocket-protocol"), state.subprotocols)
    offer = headers.get("sec-websocket-extensions")
    if state.compression and offer:
        # a 4 KiB window and memLevel 5, as the websockets library does: about 50 KiB of
        # zlib state per compressing connection instead of about 300 KiB
        accepted = server_accept(
            offer,
            server_max_window_bits=_WINDOW_BITS,
            client_max_window_bits=_WINDOW_BITS,
            mem_level=_MEM_LEVEL,
        )
        if accepted is not None:
            state.deflate = accepted[1]
            return accepted[0]
    return None


def _accept(conn: TcpConnection, state: WebSocketState, request: Request, key: str) -> None:
    """Run ``on_websocket_connect``, then answer 101 (or refuse, when it closed the
    connection or raised RequestError)."""
    extensions = _negotiate(state, request)
    state.stage = ACCEPTING
    callback = state.on_connect
    result: Any = None
    if callback is not None:
        try:
            result = callback(conn, request)
        except Exception as exc:
            _connect_raised(conn, exc)
            return
        if result is not None and isawaitable(result):
            conn.run_held(_finish_later(conn, state, request, key, extensions, result))
            return
    _finish(conn, state, request, key, extensions, result)


def _connect_raised(conn: TcpConnection, exc: Exception) -> None:
    """``on_websocket_connect`` raised: a RequestError is the answer; anything else is
    logged and answered 500."""
    if isinstance(exc, RequestError):
        _refuse(conn, exc.status, exc.reason)
    else:
        conn.report("on_websocket_connect", exc)
        _refuse(conn, 500, "")


async def _finish_later(
    conn: TcpConnection,
    state: WebSocketState,
    request: Request,
    key: str,
    extensions: str | None,
    pending: Any,
) -> None:
    try:
        result = await pending
    except Exception as exc:
        _connect_raised(conn, exc)
        return
    _finish(conn, state, request, key, extensions, result)


def _finish(
    conn: TcpConnection,
    state: WebSocketState,
    request: Request,
    key: str,
    extensions: str | None,
    extra: Any,
) -> None:
    if conn.status >= _CLOSING or state.stage != ACCEPTING:
        return  # the connect callback closed it
    headers = _cookie_header(request)
    try:  # what the callback returned is the user's: a bad value is a 500, not a crash
        if isinstance(extra, dict):
            headers += [(str(k), str(v)) for k, v in extra.items()]
        elif extra is not None:
            headers += [(str(k), str(v)) for k, v in extra]
        reply = server_response(
            key, subprotocol=state.subprotocol, extensions=extensions, headers=headers
        )
    except (TypeError, ValueError) as exc:
        conn.report("on_websocket_connect headers", exc)
        _refuse(conn, 500, "")
        return
    conn.write(reply)
    request._finish()
    state.opened(conn, conn.max_package_size)


def _cookie_header(request: Request) -> list[tuple[str, str]]:
    cookie = request._session_cookie()
    return [("Set-Cookie", cookie)] if cookie is not None else []


# The heads of unmasked, uncompressed one-frame messages under 126 bytes, by length.
_TEXT_HEADS: Final = [bytes((0x81, n)) for n in range(126)]
_BINARY_HEADS: Final = [bytes((0x82, n)) for n in range(126)]


# -- heartbeat: one timer per worker closes silent clients --------------------------------


def _heartbeat(worker: Worker, interval: float) -> None:
    """Start the worker's heartbeat of ``interval`` on the running loop, once."""
    sweep_every(worker, interval, _beat)


def _beat(worker: Worker, interval: float) -> None:
    """Every interval: a connection heard from since the last beat is fine; one silent
    for a whole interval gets a Ping; one silent for another interval is closed."""
    for conn in list(worker.connections.values()):
        state = conn.protocol_state
        if not isinstance(state, WebSocket) or state.options.heartbeat != interval:
            continue
        if state.alive:
            state.alive = False
        elif not state.pinged and state.stage == OPEN:
            state.pinged = True
            state.ping()
        else:
            statistics.timeouts += 1
            if state.stage == OPEN:
                state.close(1011, "heartbeat timeout")
            else:
                conn.close()


@mypyc_attr(allow_interpreted_subclasses=True)  # configure() makes subclasses; users do too
class WebSocket(WebSocketState):
    """RFC 6455 server side: ``Worker("websocket://0.0.0.0:8000")``.

    The first request on a connection must be a WebSocket upgrade; then each text
    message reaches ``on_message`` as ``str`` and each binary one as ``bytes``, and
    ``connection.send(str)`` sends a text frame, ``send(bytes)`` a binary frame.
    See the package README for the worker's ``on_websocket_*`` callbacks and settings.
    Each connection's instance is its ``connection.websocket``.
    """

    __slots__ = ()

    server_side = True
    #: this protocol's settings; see :meth:`configure`
    options: ClassVar[WebSocketOptions] = WebSocketOptions()

    def __init__(self, connection: TcpConnection) -> None:
        super().__init__(connection)
        worker = connection.worker
        if worker is not None:
            self.on_connect = worker.on_websocket_connect
        _take_worker_settings(self, worker)

    @classmethod
    def configure(
        cls,
        *,
        subprotocols: Sequence[str] | None = None,
        heartbeat: float | None = None,
        compression: bool | None = None,
    ) -> type[WebSocket]:
        """This protocol with other settings (see :class:`WebSocketOptions`); what is not
        given stays as it is::

            chat = Worker("websocket://0.0.0.0:8000", protocol=WebSocket.configure(heartbeat=30))
        """
        changes: dict[str, Any] = {}
        if subprotocols is not None:
            changes["subprotocols"] = tuple(subprotocols)
        if heartbeat is not None:
            if heartbeat < 0:
                raise ValueError(f"heartbeat must be 0 or more seconds, got {heartbeat!r}")
            changes["heartbeat"] = float(heartbeat)
        if compression is not None:
            changes["compression"] = bool(compression)
        options = dataclasses.replace(cls.options, **changes)
        return type(cls.__name__, (cls,), {"__slots__": (), "options": options})

    def data_received(self, data: bytes) -> None:
        stage = self.stage
        if stage in (OPEN, CLOSED):
            if self.decoder is not None:
                self.receive(self.connection, data)
            return
        if stage == HANDSHAKE:
            _handshake(self.connection, self, data)

    def send(self, message: Any) -> bool | None:
        """str: a text frame; bytes: a binary frame (compressed when negotiated).

        A server send: the frames of small uncompressed messages come from tables, and the
        last one framed is reused, for a broadcast of one message to many connections."""
        conn = self.connection
        if self.stage == OPEN and self.deflate is None:
            if message is _last[0]:
                return conn.write(_last[1])
            kind = type(message)
            frame: bytes
            if kind is str:
                text: str = message  # (typed: compiled, the encode is a direct call)
                payload = text.encode()
                size = len(payload)
                frame = _TEXT_HEADS[size] + payload if size < 126 else self.frame(OP_TEXT, payload)
            elif kind is bytes:
                size = len(message)
                frame = (
                    _BINARY_HEADS[size] + message if size < 126 else self.frame(OP_BINARY, message)
                )
            else:
                return conn.write(self.encode(message))
            _last[0] = message
            _last[1] = frame
            return conn.write(frame)
        return conn.write(self.encode(message))


def upgrade(
    connection: TcpConnection,
    request: Request,
    *,
    protocol: type[WebSocket] | None = None,
    subprotocols: Sequence[str] | None = None,
    headers: dict[str, str] | None = None,
    compression: bool | None = None,
    on_message: Any = None,
) -> bool:
    """Turn the ``http://`` connection of ``request`` into a WebSocket, from its handler.

    The 101 answer goes out now; later messages on the connection are WebSocket
    messages for ``on_message`` (given here, or set on the connection). A request that
    is not a valid upgrade gets its 400 or 426 and False is returned. The worker's
    ``on_websocket_ping``, ``on_websocket_pong`` and ``on_websocket_close`` apply, as on
    a ``websocket://`` port; the settings are those of ``protocol`` (``WebSocket``, or
    one made by ``WebSocket.configure(...)``), with ``subprotocols`` and ``compression``
    over them when given. Messages are limited to the connection's ``max_package_size``
    as it is when this is called.
    """
    http_state = connection.protocol_state
    if not isinstance(http_state, HttpState) or http_state.request is not request:
        raise RuntimeError("upgrade() takes the request the connection is handling now")
    try:
        key = check_client_request(request.method, request.protocol_version, request.headers)
    except HandshakeError as exc:
        connection.send(Response(exc.status, dict(exc.headers), exc.reason))
        return False
    kind = WebSocket if protocol is None else protocol
    state = kind(connection)  # the worker's WebSocket callbacks, as on a websocket:// port
    state.on_connect = None
    if compression is not None:
        state.compression = compression
    if subprotocols is not None:
        state.subprotocols = list(subprotocols)
    extensions = _negotiate(state, request)
    reply = server_response(
        key,
        subprotocol=state.subprotocol,
        extensions=extensions,
        headers=[*_cookie_header(request), *(headers or {}).items()],
    )
    # the HTTP exchange ends here, the connection stays
    http_state.request = None
    http_state.exchange.finish()
    connection.switch_protocol(kind, state)
    if on_message is not None:
        connection.on_message = on_message
    connection.write(reply)
    request._finish()
    state.opened(connection, connection.max_package_size)
    if http_state.held:  # an async handler upgraded: what waited is WebSocket's now
        http_state.held = False
        connection.release()
    return True
