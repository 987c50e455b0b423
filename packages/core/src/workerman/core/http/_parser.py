"""From received bytes to requests: the per-request hot path of an HTTP connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._statistics import statistics
from ._errors import RequestError
from ._exchange import HttpState, dispatch, reject
from ._head import analyse, dechunk_size
from ._request import Request

if TYPE_CHECKING:
    from .._connection import TcpConnection

__all__ = ["parse_http"]

_CLOSING = 4
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def parse_http(conn: TcpConnection, buffer: bytes) -> None:
    """Decode and dispatch every whole request in ``buffer``; keep the rest."""
    state: HttpState | None = conn._pstate
    if state is None:
        state = conn._pstate = HttpState()
    elif state.discarding:
        return
    codec: Any = conn.protocol
    limit = conn.max_package_size
    max_head = codec.max_header_size
    size = len(buffer)
    start = 0
    delivered = 0
    conn._want = 0
    try:
        while start < size:
            if (conn._unsent or conn._batch_size >= conn._max_send) and _backlogged(conn):
                _stall(conn, state, buffer, start)
                return
            if buffer[start] == 13:
                while buffer.startswith(b"\r\n", start):
                    start += 2  # empty lines before a request
                if start >= size:
                    return
            end = buffer.find(b"\r\n\r\n", start)
            if end < 0 or end - start > max_head:
                if end >= 0 or size - start > max_head:
                    reject(conn, 431, "request header block too large")
                    return
                _wait(conn, state, buffer, start, codec.header_timeout)
                return
            head = buffer[start:end]
            method, uri, version, keep_alive, length, chunked, expect = analyse(head)
            body_start = end + 4
            if chunked:
                found, stop = _dechunk(state, buffer, start, body_start, limit, max_head)
                if found is None:
                    conn._want = stop
                    _more(conn, state, buffer, start, expect)
                    return
                body = found
            elif length:
                stop = body_start + length
                # the whole request counts, as in Workerman: the connection holds all of
                # it while it arrives, under the same limit
                if stop - start > limit:
                    raise RequestError(413, f"a request of {stop - start} bytes is over the limit")
                if stop > size:
                    conn._want = stop - start
                    _more(conn, state, buffer, start, expect)
                    return
                body = buffer[body_start:stop]
            else:
                body = b""
                stop = body_start
            if state.timer:
                _cancel_timer(state)
            start = stop
            delivered += 1
            dispatch(conn, state, Request(conn, head, body, method, uri, version, keep_alive))
            if conn._status >= _CLOSING:
                return
            if conn.protocol is not codec:  # upgraded (WebSocket): the rest is theirs
                if start < size:
                    from .._parsing import parse

                    parse(conn, buffer[start:])
                return
            if conn._busy:
                if start < size:
                    _keep(conn, buffer, start)
                return
    except RequestError as exc:
        reject(conn, exc.status, exc.reason)
    finally:
        statistics.total_request += delivered


def _keep(conn: TcpConnection, buffer: bytes, start: int) -> None:
    """Hold the bytes from ``start`` on: they are read again when more arrive or when
    the connection may go on."""
    conn._recv = bytearray(buffer[start:] if start else buffer)


def _backlogged(conn: TcpConnection) -> bool:
    return conn.send_buffer_size >= conn.max_send_buffer_size


def _stall(conn: TcpConnection, state: HttpState, buffer: bytes, start: int) -> None:
    """The client is not taking its answers: handle (and read) no more of its requests
    until it does, instead of answering into a full send buffer, which drops answers."""
    _keep(conn, buffer, start)
    conn._busy = True
    conn._update_reading()
    state.stalled = True
    if not conn._full:  # the answers are still in this read's batch: look once it is written
        from .._loop import current_loop

        current_loop().call_soon(_recheck, conn, state)


def _recheck(conn: TcpConnection, state: HttpState) -> None:
    if state.stalled and not conn._full:  # (when full, drained() resumes)
        state.stalled = False
        conn._handler_done()


def _more(conn: TcpConnection, state: HttpState, buffer: bytes, start: int, expect: bool) -> None:
    """The head is whole but the body is not: keep the request's bytes, and tell a client
    that waits for it to go on."""
    if state.timer:
        _cancel_timer(state)
    _keep(conn, buffer, start)
    if expect and not state.continued:
        state.continued = True
        conn.send(_CONTINUE, raw=True)


def _wait(conn: TcpConnection, state: HttpState, buffer: bytes, start: int, timeout: float) -> None:
    """A head has begun but not ended: keep it, and give the client ``timeout`` seconds
    to finish it."""
    _keep(conn, buffer, start)
    if not state.timer and timeout > 0:
        from .._loop import current_loop

        state.timer = current_loop().delay(timeout, _timed_out, conn, state)


def _timed_out(conn: TcpConnection, state: HttpState) -> None:
    state.timer = 0
    if conn._status < _CLOSING and conn._recv:
        reject(conn, 408, "the request head did not arrive in time")


def _cancel_timer(state: HttpState) -> None:
    from .._loop import current_loop

    current_loop().cancel(state.timer)
    state.timer = 0


def _dechunk(
    state: HttpState, buffer: bytes, start: int, pos: int, limit: int, max_trailer: int
) -> tuple[bytes | None, int]:
    """A chunked body from ``pos``: (body, where the request ends), or (None, how many
    bytes from ``start`` to wait for, 0 when unknown).

    What is decoded stays in ``state`` (the bytes are kept from the request's start),
    so a body arriving over many reads is decoded once, not once per read.
    """
    if state.cpos:
        pos = start + state.cpos
    size = len(buffer)
    parts = state.cparts
    want = 0
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            if size - pos > 1024:
                raise RequestError(400, "chunk size line too long")
            break
        count = dechunk_size(buffer[pos:eol])
        if count == 0:  # the last chunk, then optional trailer fields and a blank line
            if buffer.startswith(b"\r\n", eol + 2):
                stop = eol + 4
            else:
                blank = buffer.find(b"\r\n\r\n", eol + 2)
                if blank < 0:
                    if size - eol > max_trailer:
                        raise RequestError(431, "chunked trailer section too large")
                    break
                stop = blank + 4
            body = b"".join(parts)
            state.cpos = 0
            state.cparts = []
            state.csize = 0
            return body, stop
        data_end = eol + 2 + count
        if data_end + 2 - start > limit:
            raise RequestError(413, f"a chunked request over {limit} bytes")
        if data_end + 2 > size:
            want = data_end + 2 - start
            break
        if buffer[data_end : data_end + 2] != b"\r\n":
            raise RequestError(400, "chunk data is not followed by CRLF")
        parts.append(buffer[eol + 2 : data_end])
        state.csize += count
        pos = data_end + 2
    state.cpos = pos - start
    return None, want
