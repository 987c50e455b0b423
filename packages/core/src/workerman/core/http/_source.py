"""Response bodies from an iterator: a piece is taken each time the client has read the
last ones, so a large or endless body never sits in memory whole."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from workerman.core import ConnectionStatus, current_loop

from ._answer import complete, cookie_line

if TYPE_CHECKING:
    from workerman.core import TcpConnection

    from ._protocol import HttpState
    from ._request import Request
    from ._response import Response

__all__ = ["SourceStreamer", "send_source"]

_CLOSING: Final = ConnectionStatus.CLOSING
_END = object()


class SourceStreamer:
    """Writes what an iterator gives while the connection's send buffer has room, and
    again each time it drains; chunked, or bare under a length the handler gave."""

    __slots__ = ("length", "sent", "source")

    def __init__(self, source: Iterator[str | bytes], length: int) -> None:
        self.source = source
        self.length = length  # -1: none given
        self.sent = 0

    def pump(self, conn: TcpConnection, state: HttpState) -> None:
        if state.streamer is not self:
            return
        source = self.source
        piece_of = state.exchange.piece
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
                conn.write(piece_of(data))
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
        end = state.exchange.end()
        if end:
            conn.write(end)
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
    elif request.protocol_version != "1.0":  # (1.0: the close ends the body)
        chunked = True
        response.header("Transfer-Encoding", "chunked")
    exchange = state.exchange
    extra = cookie_line(request)
    conn.write(exchange.encode_head(response, length if length >= 0 else None, chunked, extra))
    streamer = SourceStreamer(source, length)
    if not exchange.outstanding:  # a HEAD request, a 204 or 304: no body
        streamer.close()
        complete(conn, state)
        return
    state.streamer = streamer
    # outside the handler's read, so a full send buffer pauses the pieces
    current_loop().call_soon(streamer.pump, conn, state)
