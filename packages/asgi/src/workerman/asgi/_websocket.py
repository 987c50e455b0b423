"""One WebSocket as an ASGI ``websocket`` scope, on the core's ``upgrade()``.

The upgrade request reaches the app as ``websocket.connect``; ``websocket.accept``
answers 101 (with the subprotocol and headers the app chose) and makes the connection a
WebSocket; ``websocket.close`` before that refuses with 403, and
``websocket.http.response.*`` (the extension) refuses with a response of the app's own.
Messages the app has not taken yet queue up to ``ws_max_queue``; past that the
connection stops reading until the app catches up.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar, Final

from workerman.core import current_loop
from workerman.core.http import Response
from workerman.core.websocket import upgrade

from ._exceptions import ClientDisconnected
from ._flow import Waiting, wait_for_drain
from ._http import make_response

if TYPE_CHECKING:
    from workerman.core import TcpConnection
    from workerman.core.http import Request

    from ._worker import AsgiWorker as Host

__all__ = ["WebSocketCycle"]

_CONNECT: Final = {"type": "websocket.connect"}
_ABNORMAL: Final = 1006

# where the handshake stands
_CONNECTING: Final = 0
_OPEN: Final = 1
_RESPONDING: Final = 2  # websocket.http.response.start came: a body follows
_CLOSED: Final = 3


class WebSocketCycle(Waiting):
    """The ``receive`` and ``send`` of one WebSocket connection."""

    __slots__ = (
        "conn",
        "ended",
        "host",
        "paused",
        "queue",
        "request",
        "response",
        "stage",
    )

    finished: ClassVar[bool] = False  # returned() always has something to check

    def __init__(self, host: Host, conn: TcpConnection, request: Request) -> None:
        super().__init__()
        self.host = host
        self.conn = conn
        self.request = request
        self.stage = _CONNECTING
        self.queue: deque[dict[str, Any]] = deque([_CONNECT])
        self.paused = False
        self.ended = False  # websocket.disconnect is queued
        self.response: tuple[int, Any, bytearray] | None = None

    async def receive(self) -> dict[str, Any]:
        queue = self.queue
        while not queue:
            waiter = self.waiter = current_loop().create_future()
            await waiter
        message = queue.popleft()
        if self.paused and len(queue) <= self.host.ws_max_queue // 2:
            self.paused = False
            self.conn.resume_recv()
        return message

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        conn = self.conn
        stage = self.stage
        if kind == "websocket.send":
            if stage != _OPEN:
                if stage == _CLOSED:
                    raise ClientDisconnected("the WebSocket is closed")
                raise RuntimeError("ASGI: websocket.send before websocket.accept")
            text = message.get("text")
            conn.send(text if text is not None else bytes(message.get("bytes") or b""))
            if conn.writing_paused or conn.backlogged:
                await wait_for_drain(self)
                if self.stage == _CLOSED:
                    raise ClientDisconnected("the WebSocket is closed")
        elif kind == "websocket.accept":
            if stage != _CONNECTING:
                raise RuntimeError("ASGI: websocket.accept twice, or after a close")
            self.accept(message)
        elif kind == "websocket.close":
            if stage == _OPEN:
                self.stage = _CLOSED
                conn.websocket.close(message.get("code") or 1000, message.get("reason") or "")
            elif stage == _CONNECTING:
                self.stage = _CLOSED
                self.refuse(403, [], b"")
            elif stage == _CLOSED:
                raise ClientDisconnected("the WebSocket is closed")
            else:
                raise RuntimeError("ASGI: websocket.close during websocket.http.response")
        elif kind == "websocket.http.response.start":
            if stage != _CONNECTING:
                raise RuntimeError("ASGI: websocket.http.response.start after accept or close")
            self.stage = _RESPONDING
            self.response = (message["status"], message.get("headers", ()), bytearray())
        elif kind == "websocket.http.response.body":
            response = self.response
            if stage != _RESPONDING or response is None:
                raise RuntimeError("ASGI: websocket.http.response.body without its start")
            response[2].extend(message.get("body", b""))
            if not message.get("more_body", False):
                self.stage = _CLOSED
                self.refuse(response[0], response[1], bytes(response[2]))
        else:
            raise RuntimeError(f"ASGI: unexpected message {kind!r} in a websocket scope")

    def accept(self, message: dict[str, Any]) -> None:
        subprotocol = message.get("subprotocol")
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in message.get("headers", ())
        }
        accepted = upgrade(
            self.conn,
            self.request,
            subprotocols=[subprotocol] if subprotocol else [],
            headers=headers,
            on_message=self.received,
        )
        if not accepted:  # not a valid upgrade after all: the core answered 400/426
            self.stage = _CLOSED
            self.disconnect(_ABNORMAL, "")
            return
        self.stage = _OPEN
        self.conn.websocket.on_close = self.peer_closed

    def refuse(self, status: int, headers: Any, body: bytes) -> None:
        response = make_response(status, headers, body)
        response.header("Connection", "close")
        self.conn.send(response)
        self.disconnect(_ABNORMAL, "")
        self.host.cycle_done(self)

    # -- the connection's side ------------------------------------------------------------

    def received(self, conn: TcpConnection, data: str | bytes) -> None:
        self.push(
            {"type": "websocket.receive", "text": data}
            if type(data) is str
            else {"type": "websocket.receive", "bytes": data}
        )
        if not self.paused and len(self.queue) >= self.host.ws_max_queue:
            self.paused = True
            conn.pause_recv()

    def peer_closed(self, conn: TcpConnection, code: int, reason: str) -> None:
        self.stage = _CLOSED
        self.disconnect(code, reason)

    def lost(self) -> None:
        self.stage = _CLOSED
        self.disconnect(_ABNORMAL, "")
        self.drained()

    def disconnect(self, code: int, reason: str) -> None:
        if not self.ended:
            self.ended = True
            self.push({"type": "websocket.disconnect", "code": code, "reason": reason})

    def push(self, message: dict[str, Any]) -> None:
        self.queue.append(message)
        self.wake()

    def returned(self) -> None:
        """The app returned: refuse the handshake, or close the socket, if it did not."""
        self.failed(None)

    def failed(self, exc: BaseException | None) -> None:
        """The app raised ``exc``, or returned (None): refuse or close."""
        if exc is not None:
            self.conn.report("ASGI app", exc)
        if self.stage in (_CONNECTING, _RESPONDING):
            self.stage = _CLOSED
            status = 500 if exc is not None else 403
            self.conn.send(Response(status, {"Connection": "close"}, b""))
        elif self.stage == _OPEN:
            self.stage = _CLOSED
            self.conn.websocket.close(1011 if exc is not None else 1000, "")
        self.host.cycle_done(self)
