"""Response bodies from an iterator: a piece is taken each time the client has read the
last ones, so a large or endless body never sits in memory whole."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from workerman.core import ConnectionStatus, current_loop

from ._answer import _NO_BODY, _head, complete

if TYPE_CHECKING:
    from workerman.core import TcpConnection

    from ._protocol import HttpState
    from ._request import Request
    from ._response import Response

__all__ = ["SourceStreamer", "send_source"]

_CLOSING = ConnectionStatus.CLOSING
_END = object()


class SourceStreamer:
    """Writes what an iterator gives while the connection's send buffer has room, and
    again each time it drains; chunked, or bare under a length the handler gave."""

    __slots__ = ("chunked", "length", "sent", "source")

    def __init__(self, source: Iterator[str | bytes], chunked: bool, length: int) -> None:
        self.source = source
        self.chunked = chunked
        self.length = length  # -1: none given
        self.sent = 0

    def pump(self, conn: TcpConnection, state: HttpState) -> None:
        if state.streamer is not self:
            return
        source = self.source
        try:
            while not conn.writing_paused:
                if conn.status >= _CLOSING:
                    self.close()
                    return
                piece: object = next(source, _END)
                if piece is _END:
                    break
                if isinstance(piece, str):
                    data = piece.encode()
                elif isinstance(piece, (bytes, bytearray, memoryview)):
                    data = bytes(piece)
                else:
                    raise TypeError(f"a body piece is str or bytes, not {type(piece).__name__}")
                if not data:
                    continue
                self.sent += len(data)
                if 0 <= self.length < self.sent:
                    raise ValueError(f"the body is longer than its Content-Length {self.length}")
                conn.write(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)
            else:
                return  # the client is behind: drained() pumps again
            if self.sent < self.length:
                raise ValueError(f"the body ended {self.length - self.sent} bytes short")
        except Exception as exc:
            conn.report("response body iterator", exc)
            self.close()
            state.streamer = None
            conn.close()  # the body is cut: the client must not take it as whole
            return
        self.close()
        state.streamer = None
        if self.chunked:
            conn.write(b"0\r\n\r\n")
        complete(conn, state)

    def close(self) -> None:
        close = getattr(self.source, "close", None)  # a generator's own cleanup runs
        if close is not None:
            try:
                close()
            finally:
                self.source = iter(())


def send_source(
    conn: TcpConnection, state: HttpState, request: Request, response: Response
) -> None:
    source = response._source
    assert source is not None
    given = response._headers.get("content-length")
    length = -1
    chunked = False
    if given is not None:
        length = int(str(given[1]))
    elif request.protocol_version == "1.0":
        state.close_after = True  # the close ends the body
    else:
        chunked = True
        response.header("Transfer-Encoding", "chunked")
    lines = _head(response, request, state, length if length >= 0 else None)
    conn.write(b"".join(lines))
    streamer = SourceStreamer(source, chunked, length)
    if request.method == "HEAD" or response._status in _NO_BODY:
        streamer.close()
        complete(conn, state)
        return
    state.streamer = streamer
    # outside the handler's read, so a full send buffer pauses the pieces
    current_loop().call_soon(streamer.pump, conn, state)
