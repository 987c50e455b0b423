"""HttpState: the ``http://`` protocol's side of one connection, on the core's
stream-protocol seam."""

from __future__ import annotations

from types import FunctionType
from typing import TYPE_CHECKING, Any, Final

from mypy_extensions import mypyc_attr

from workerman.core import Timer

from ._answer import fail
from ._errors import RequestError
from ._exchange import respond
from ._idle import watch
from ._machine import HttpExchange
from ._reading import read_http
from ._settings import HttpSettings

if TYPE_CHECKING:
    from workerman.core import TcpConnection

    from ._file import FileStreamer
    from ._request import Request
    from ._source import SourceStreamer
    from ._spool import Spool

__all__ = ["HttpState"]

_DRAIN_GRACE: Final = 2.0  # seconds an idle connection of a stopping worker may still ask


@mypyc_attr(allow_interpreted_subclasses=True)  # Http and the subclasses workers are given
class HttpState(HttpSettings):
    """The HTTP side of one connection, and the settings of the ``http://`` protocol
    (class attributes; :class:`~workerman.core.http.Http` is the class workers use)."""

    __slots__ = (
        "exchange",
        "failed",
        "held",
        "mark",
        "quiet",
        "request",
        "seen",
        "spool",
        "stalled",
        "streamer",
        "timer",
    )

    def __init__(self, connection: TcpConnection) -> None:
        super().__init__(connection)
        # what the bytes mean and what to answer: the exchange; the rest is the IO it asks for
        self.exchange = HttpExchange(
            self.max_header_size,
            connection.max_package_size,
            self.max_chunks,
            self.body_spool_size,
            self.max_keepalive_requests,
        )
        self.request: Request | None = None  # the one the exchange handed out, until answered
        self.held = False  # the connection is held until its response is complete
        self.stalled = False  # no request is read until the client takes its answers
        self.timer = 0  # the head's deadline, or the body's
        self.mark = 0  # the body's: bytes_read when its period began (-1: the head's timer)
        self.streamer: FileStreamer | SourceStreamer | None = None
        self.spool: Spool | None = None  # a large body arriving into a temporary file
        self.failed = self.handler_failed  # made once: handed to deliver() per request
        self.seen = False  # bytes arrived since the last idle sweep
        self.quiet = 0  # idle sweeps in a row that found nothing going on
        watch(connection, self.idle_timeout)

    def data_received(self, data: bytes) -> None:
        """Feed the exchange; deliver every whole request."""
        read_http(self, data)

    def send(self, message: Any) -> bool | None:
        """Send a message (str, bytes, Response, Chunk, ServerSentEvents) as (part of) the
        response to the current request, in order with completing it."""
        return respond(self, message)

    def drained(self) -> None:
        conn = self.connection
        streamer = self.streamer
        if streamer is not None:
            streamer.pump(conn, self)
        if self.stalled:
            self.stalled = False
            conn.release()

    def connection_lost(self) -> None:
        """The connection is gone: stop timers and streams, drop temporary files."""
        conn = self.connection
        self.stop_timer()
        self.drop_spool()
        if self.streamer is not None:
            self.streamer.close()
            self.streamer = None
        request = self.request
        if request is not None:
            request._cleanup()
        conn.drop_kept()  # pipelined requests of a gone client are not handled
        # a gone connection's response never completes: on_close waits only for a task
        if self.held:
            self.held = False
            conn.release()
        if self.stalled:
            self.stalled = False
            conn.release()

    def draining(self) -> None:
        """A graceful stop: the request in progress, or the next one, is answered with
        ``Connection: close`` (unless its head is out) and the connection closes after
        it. An idle keep-alive connection that has been quiet since the last idle sweep
        closes now; one that spoke lately, or has not spoken yet (accepted as the stop
        began), may have a request on its way (closing then would drop it), so it gets a
        moment first."""
        exchange = self.exchange
        exchange.drain()
        if exchange.outstanding:
            return
        conn = self.connection
        if self.seen or self.busy_arriving() or not conn.bytes_read:  # (new: it will ask)
            Timer.add(_DRAIN_GRACE, self.close_if_idle, persistent=False)
        else:
            conn.close()

    def busy_arriving(self) -> bool:
        """Part of a request is in (its head, or a body still coming)."""
        return bool(self.exchange.phase or self.connection.recv_buffer_size)

    def recv_buffered(self) -> int:
        """The bytes the exchange holds unread (a partial head, pipelined requests)."""
        return self.exchange.unread

    def close_if_idle(self) -> None:
        if not (self.exchange.outstanding or self.busy_arriving()):
            self.connection.close()

    def drop_spool(self) -> None:
        """Forget a body being spooled (and its file)."""
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    def stop_timer(self) -> None:
        """Cancel the head's or body's timer, if one runs (and the loop it runs on still does)."""
        if self.timer:
            Timer.delete(self.timer)
            self.timer = 0

    def handler_failed(self, exc: Exception) -> None:
        """``on_message`` raised (now, or in its task): its status, or 500, unless the
        response is already out (then it stands)."""
        outstanding = self.exchange.outstanding
        if isinstance(exc, RequestError):
            if outstanding:
                fail(self.connection, self, exc.status, exc.reason)
            return
        self.connection.report("on_message", exc)
        if outstanding:
            fail(self.connection, self, 500, "")


# Pure Python: the functions themselves are the methods, no call in between per request. A
# compiled (native) function does not bind to an instance, so there the defs above stay.
if isinstance(read_http, FunctionType):
    HttpState.data_received = read_http  # type: ignore[method-assign]
    HttpState.send = respond  # type: ignore[method-assign,assignment]
