"""One HTTP request as an ASGI ``http`` scope: ``receive`` hands the app the request body,
``send`` turns its response messages into the core's responses.

The core has read the whole request (up to the connection's ``max_package_size``) before
the app is called, and reads nothing more from the connection until the response is
complete; ``receive`` gives the body in pieces of at most ``body_chunk_size`` bytes, all
but the last with ``more_body``. ``http.response.start`` is kept until the first body
message, so a whole response leaves as one write with a computed ``Content-Length``; a
response sent in several bodies is a chunked stream, and an awaited ``send`` waits while
the client is not taking what was sent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from workerman.core import current_loop
from workerman.core.http import Chunk, Response

from ._exceptions import ClientDisconnected
from ._flow import Waiting, wait_for_drain

if TYPE_CHECKING:
    from workerman.core import TcpConnection
    from workerman.core.http import Request

    from ._worker import AsgiWorker as Host

__all__ = ["HttpCycle", "make_response"]

logger: Final = logging.getLogger("workerman.asgi")
access_logger: Final = logging.getLogger("workerman.asgi.access")

_DISCONNECT: Final = {"type": "http.disconnect"}
_PLAIN: Final = {"Content-Type": "text/plain; charset=utf-8"}


def make_response(status: int, headers: Any, body: bytes, chunked: bool = False) -> Response:
    """A core Response from an ASGI status and ``(name, value)`` byte pairs (sent as given:
    the core refuses a CR, LF or NUL in them, and frames the body itself)."""
    response = Response.from_fields(status, headers, body)
    if chunked:
        response.without_header("content-length")  # the stream's framing is ours
        response.header("Transfer-Encoding", "chunked")
    return response


class HttpCycle(Waiting):
    """The ``receive`` and ``send`` of one request, and where its response stands."""

    __slots__ = (
        "ahead",
        "body",
        "conn",
        "disconnected",
        "eof",
        "finished",
        "headers",
        "host",
        "pos",
        "request",
        "sent",
        "status",
        "streaming",
    )

    def __init__(self, host: Host, conn: TcpConnection, request: Request) -> None:
        self.waiter = self.drain = None  # (Waiting's, set here: one call less per request)
        self.host = host
        self.conn = conn
        self.request = request
        # a body the core spooled to a file (over Http.body_spool_size) is read in pieces
        self.body: bytes | BinaryIO | None = (
            request.body_file if request.body_spooled else request.raw_body
        )
        self.pos = 0
        self.ahead: bytes | None = None  # the next piece of a spooled body, read ahead
        self.status = 0  # http.response.start's, once it came
        self.headers: Any = ()
        self.streaming = False
        self.finished = False  # the response is complete
        self.disconnected = False
        self.eof = False  # the client ended its side (it may still read the answer)
        self.sent = 0  # body bytes sent (for the access log)

    # -- receive ---------------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        body = self.body
        if type(body) is bytes:
            pos = self.pos
            limit = self.host.body_chunk_size
            if len(body) - pos <= limit:
                self.body = None
                return {"type": "http.request", "body": body[pos:] if pos else body}
            self.pos = pos + limit
            return {"type": "http.request", "body": body[pos : pos + limit], "more_body": True}
        if body is not None:
            return self._spooled_piece(body)  # type: ignore[arg-type]
        while not (self.disconnected or self.finished or self.eof):
            waiter = self.waiter = current_loop().create_future()
            await waiter
        return _DISCONNECT

    def _spooled_piece(self, file: BinaryIO) -> dict[str, Any]:
        """The next piece of a spooled body; one piece is read ahead, so the last one is
        known to be the last."""
        limit = self.host.body_chunk_size
        piece = self.ahead if self.ahead is not None else file.read(limit)
        following = file.read(limit) if len(piece) == limit else b""
        if following:
            self.ahead = following
            return {"type": "http.request", "body": piece, "more_body": True}
        self.body = self.ahead = None
        return {"type": "http.request", "body": piece}

    # -- send --------------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            if not self.status:
                raise RuntimeError("ASGI: http.response.body before http.response.start")
            if self.finished or self.disconnected:
                if self.disconnected:
                    raise ClientDisconnected("the client has gone away")
                raise RuntimeError("ASGI: http.response.body after the response completed")
            body = message.get("body", b"")
            more = message.get("more_body", False)
            conn = self.conn
            self.sent += len(body)
            if self.streaming:
                if body:
                    conn.send(Chunk(body))
                if not more:
                    self.finished = True
                    conn.send(Chunk())
            elif more:  # (the response is made first: headers it refuses are a 500)
                response = make_response(self.status, self.headers, bytes(body), chunked=True)
                self.streaming = True
                conn.send(response)
            else:
                response = Response.from_fields(
                    self.status, self.headers, body if type(body) is bytes else bytes(body)
                )
                self.finished = True
                conn.send(response)
                self.done()
                return
            if self.finished:
                self.done()
            elif conn.writing_paused or conn.backlogged:  # the client is not reading
                await wait_for_drain(self)
                if self.disconnected:
                    raise ClientDisconnected("the client has gone away")
        elif kind == "http.response.start":
            if self.status:
                raise RuntimeError("ASGI: http.response.start sent twice")
            if message.get("trailers"):
                raise RuntimeError("ASGI: response trailers are not supported by this server")
            status = message["status"]
            if type(status) is not int or not 100 <= status <= 999:
                raise RuntimeError(f"ASGI: {status!r} is not an HTTP status")
            self.headers = message.get("headers", ())
            self.status = status
        elif self.disconnected:
            raise ClientDisconnected("the client has gone away")
        else:
            raise RuntimeError(f"ASGI: unexpected message {kind!r} in an http scope")

    # -- the connection's side ------------------------------------------------------------

    def peer_finished(self) -> None:
        self.eof = True
        self.wake()

    def lost(self) -> None:
        self.disconnected = True
        self.wake()
        self.drained()

    def done(self) -> None:
        """The response is complete: a waiting ``receive`` gets ``http.disconnect``."""
        host = self.host
        cycles = host._cycles  # host.cycle_done(self), without the call
        key = self.conn.id
        if cycles.get(key) is self:
            del cycles[key]
        if host.access_log:
            request = self.request
            access_logger.info(
                '%s - "%s %s HTTP/%s" %d %d',
                self.conn.remote_address,
                request.method,
                request.uri,
                request.protocol_version,
                self.status,
                self.sent,
            )
        if self.waiter is not None:
            self.wake()

    def returned(self) -> None:
        """The app returned: its response should be complete."""
        if not self.finished:
            self.failed(None)

    def failed(self, exc: BaseException | None) -> None:
        """The app raised ``exc`` (None: it returned without completing its response)."""
        conn = self.conn
        if exc is not None:
            conn.report("ASGI app", exc)
        else:
            logger.error(
                "%s: the ASGI app returned without completing its response",
                conn.describe("request"),
            )
        if self.finished:
            return
        self.finished = True
        if self.disconnected:
            self.host.cycle_done(self)
            return
        if self.status and self.streaming:
            conn.close()  # the head is out: ending the stream early is all that is left
        else:
            self.status = 500
            conn.send(
                Response(
                    500, {"Content-Type": "text/plain; charset=utf-8"}, "Internal Server Error"
                )
            )
        self.done()
