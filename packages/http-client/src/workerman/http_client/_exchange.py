"""One request and its response on one connection: the state both sides share.

The connection feeds it (head, body pieces, the end, or an error); the client awaits
``future`` (the head when streaming, the whole response otherwise) and, when streaming,
pulls the body with ``next_chunk()``. The read and write timeouts are gaps between
progress, checked by the connection's one watchdog timer (armed once, not per request or
per read). While a slow consumer has paused reading, the server is not the one late, so
the gap is not counted.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from workerman.core import EventLoop, Future

from ._exceptions import HttpClientError, LimitError, ReadTimeout, WriteTimeout
from ._parser import ResponseHead
from ._settings import Timeout

if TYPE_CHECKING:
    from ._connection import HttpConnection

__all__ = ["Exchange"]

_HIGH_WATER = 1024 * 1024  # a streamed body buffered beyond this pauses reading
_LOW_WATER = 256 * 1024

WRITING, READING = 0, 1


class Exchange:
    """A request in flight and what has come back for it."""

    __slots__ = (
        "abandoned",
        "chunks",
        "conn",
        "ended",
        "error",
        "future",
        "head",
        "informational",
        "last_activity",
        "limit",
        "loop",
        "paused",
        "phase",
        "size",
        "stream",
        "timeout",
        "waiter",
    )

    def __init__(self, loop: EventLoop, stream: bool, timeout: Timeout, limit: int) -> None:
        self.loop = loop
        self.stream = stream
        self.timeout = timeout
        self.limit = limit  # raw bytes a buffered (not streamed) body may hold
        self.future: Future = loop.create_future()
        self.conn: HttpConnection | None = None
        self.head: ResponseHead | None = None
        self.informational: list[ResponseHead] | None = None  # 1xx heads, when any
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.ended = False
        self.error: BaseException | None = None
        self.waiter: Future | None = None
        self.paused = False
        self.phase = WRITING
        self.last_activity = 0.0
        self.abandoned = False  # nobody awaits ``future`` any more

    # -- from the connection ---------------------------------------------------------

    def on_head(self, head: ResponseHead) -> None:
        self.head = head
        if self.stream:
            self.future.set_result(head)

    def on_data(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.stream:
            if self.size > _HIGH_WATER and not self.paused and self.conn is not None:
                self.paused = True
                self.conn.pause()
            self._wake()
        elif self.size > self.limit and self.conn is not None:
            self.conn.abort(LimitError(f"the response body is over {self.limit} bytes"))

    def on_end(self) -> None:
        self.ended = True
        self.conn = None
        if not self.stream:
            self.future.set_result(self.head)
        else:
            self._wake()

    def fail(self, error: BaseException) -> None:
        if self.ended or self.error is not None:
            return
        self.error = error
        self.conn = None
        if not self.future.done():
            if self.abandoned:
                self.future.set_result(None)
            else:
                self.future.set_exception(error)
        self._wake()

    def abort(self, error: BaseException) -> None:
        """Give up on this exchange (a timeout, the caller went away): its connection
        is dropped, since what is still on its way cannot be told from the next answer."""
        if self.conn is not None:
            self.conn.abort(error)
        else:
            self.fail(error)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            waiter.set_result(None)

    # -- for the stream's reader -----------------------------------------------------

    async def next_chunk(self) -> bytes | None:
        """The next piece of the body, or None at its end."""
        while True:
            if self.chunks:
                data = self.chunks.popleft()
                self.size -= len(data)
                if self.paused and self.size < _LOW_WATER:
                    self.paused = False
                    self.last_activity = self.loop.time()
                    if self.conn is not None:
                        self.conn.resume()
                return data
            if self.error is not None:
                raise self.error
            if self.ended:
                return None
            waiter = self.waiter = self.loop.create_future()
            await waiter

    # -- the watchdog (the connection's timer asks) -----------------------------------

    def start_reading(self) -> None:
        """The request is written: from now on the server owes us bytes."""
        self.phase = READING
        self.last_activity = self.loop.time()
        if self.conn is not None and self.timeout.read is not None:
            self.conn.watch(self.last_activity + self.timeout.read)

    def start_writing(self) -> None:
        self.phase = WRITING
        self.last_activity = self.loop.time()
        if self.conn is not None and self.timeout.write is not None:
            self.conn.watch(self.last_activity + self.timeout.write)

    def overdue(self, now: float) -> float | None:
        """Seconds until this exchange is late (after which to look again), or None when
        there is nothing to watch; late already: abort with the timeout's error."""
        if self.ended or self.error is not None:
            return None
        reading = self.phase == READING
        limit = self.timeout.read if reading else self.timeout.write
        if limit is None:
            return None
        if self.paused:  # our reader is the slow one
            return limit
        idle = now - self.last_activity
        if idle < limit * 0.999:
            return limit - idle
        error: HttpClientError = (
            ReadTimeout(f"no data from the server for {limit}s")
            if reading
            else WriteTimeout(f"the server took no request bytes for {limit}s")
        )
        self.abort(error)
        return None
