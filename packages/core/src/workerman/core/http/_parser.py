"""From received bytes to requests: the per-request hot path of an HTTP connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workerman.core import ConnectionStatus, current_loop

from ._errors import RequestError
from ._exchange import dispatch, reject
from ._head import analyse, dechunk_size
from ._request import Request
from ._spool import Spool

if TYPE_CHECKING:
    from workerman.core import TcpConnection

    from ._protocol import HttpState

__all__ = ["parse_http"]

_CLOSING = ConnectionStatus.CLOSING
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def parse_http(state: HttpState, data: bytes) -> None:
    """Decode and dispatch every whole request in ``data``; keep the rest.

    It is HttpState.data_received itself (no call in between on the per-request path)."""
    conn = state.connection
    state.seen = True  # not idle (see _idle)
    if state.spool is not None:
        rest = _spooled(conn, state, data)
        if not rest:
            return
        data = rest
    buffer = data
    limit = conn.max_package_size
    max_head = state.max_header_size
    size = len(buffer)
    start = 0
    try:
        while start < size:
            if conn.backlogged:
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
                    reject(conn, state, 431, "request header block too large")
                    return
                _wait(conn, state, buffer, start, state.header_timeout)
                return
            head = buffer[start:end]
            method, uri, version, keep_alive, length, chunked, expect = analyse(head)
            body_start = end + 4
            if chunked:
                found, stop = _dechunk(
                    state, buffer, start, body_start, limit, max_head, state.max_chunks
                )
                if found is None:
                    buffer, start, stop = _compact(state, buffer, start, body_start, stop)
                    _more(conn, state, buffer, start, expect, stop)
                    return
                body = found
            elif length:
                stop = body_start + length
                # the whole request counts, as in Workerman: the connection holds all of
                # it while it arrives, under the same limit
                if stop - start > limit:
                    raise RequestError(413, f"a request of {stop - start} bytes is over the limit")
                if stop > size:
                    if 0 < state.body_spool_size < length:
                        _spool(conn, state, buffer, head, body_start, length, expect)
                    else:
                        _more(conn, state, buffer, start, expect, stop - start)
                    return
                body = buffer[body_start:stop]
            else:
                body = b""
                stop = body_start
            if state.timer:
                state.stop_timer()
            start = stop
            dispatch(conn, state, Request(conn, head, body, method, uri, version, keep_alive))
            if conn.status >= _CLOSING:
                return
            if conn.protocol is not state.__class__:  # upgraded (WebSocket): the rest is theirs
                now = conn.protocol_state
                if start < size and now is not None:
                    now.data_received(buffer[start:])
                return
            if conn.holds:
                if start < size:
                    _keep(conn, buffer, start)
                return
    except RequestError as exc:
        reject(conn, state, exc.status, exc.reason)


def _compact(
    state: HttpState, buffer: bytes, start: int, body_start: int, want: int
) -> tuple[bytes, int, int]:
    """An incomplete chunked request: what to keep of it (its head, then what is not
    decoded yet; the decoded chunks are in ``state.cparts``), where it starts there, and
    how many bytes of it to wait for. Keeping the decoded bytes too would copy them again
    at every read: quadratic in a body of small chunks trickling in."""
    head = body_start - start
    done = state.cpos - head  # decoded body bytes, chunk lines included
    if done < 4096:
        return buffer, start, want
    state.cpos = head
    kept = buffer[start:body_start] + buffer[start + head + done :]
    return kept, 0, want - done if want else 0


def _spool(
    conn: TcpConnection,
    state: HttpState,
    buffer: bytes,
    head: bytes,
    body_start: int,
    length: int,
    expect: bool,
) -> None:
    """A large body has begun: it goes to a temporary file as it arrives."""
    spool = state.spool = Spool(head, length, state.upload_tmp_dir)
    try:
        spool.feed(memoryview(buffer)[body_start:])
    except OSError as exc:
        _spool_failed(conn, state, exc)
        return
    _awaiting_body(conn, state, expect)


def _spooled(conn: TcpConnection, state: HttpState, data: bytes) -> bytes:
    """More of a spooled body: once it is whole, its request is handled. What follows the
    body, to parse now (b"" when there is nothing, or when it is kept for later)."""
    spool = state.spool
    assert spool is not None
    try:
        taken = spool.feed(data)
    except OSError as exc:
        _spool_failed(conn, state, exc)
        return b""
    if spool.missing:
        return b""
    state.spool = None
    if state.timer:
        state.stop_timer()
    method, uri, version, keep_alive, _, _, _ = analyse(spool.head)
    dispatch(conn, state, Request(conn, spool.head, spool, method, uri, version, keep_alive))
    rest = data[taken:]
    if not rest or conn.status >= _CLOSING:
        return b""
    if conn.protocol is not state.__class__:  # upgraded: the rest is the new protocol's
        now = conn.protocol_state
        if now is not None:
            now.data_received(rest)
        return b""
    if conn.holds:
        conn.keep(rest)
        return b""
    return rest


def _spool_failed(conn: TcpConnection, state: HttpState, exc: OSError) -> None:
    conn.report("spooling a request body", exc)
    state.drop_spool()
    reject(conn, state, 500, "the request body could not be stored")


def _keep(conn: TcpConnection, buffer: bytes, start: int, want: int = 0) -> None:
    """Hold the bytes from ``start`` on: they are read again when more arrive (``want``
    of them, when known) or when the connection may go on."""
    conn.keep(buffer[start:] if start else buffer, want)


def _stall(conn: TcpConnection, state: HttpState, buffer: bytes, start: int) -> None:
    """The client is not taking its answers: handle (and read) no more of its requests
    until it does, instead of answering into a full send buffer, which drops answers."""
    _keep(conn, buffer, start)
    conn.hold()
    state.stalled = True
    if not conn.writing_paused:  # the answers are still in this read's batch: look later
        current_loop().call_soon(_recheck, conn, state)


def _recheck(conn: TcpConnection, state: HttpState) -> None:
    if state.stalled and not conn.writing_paused:  # (when paused, drained() resumes)
        state.stalled = False
        conn.release()


def _more(
    conn: TcpConnection, state: HttpState, buffer: bytes, start: int, expect: bool, want: int
) -> None:
    """The head is whole but the body is not: keep the request's bytes, give the body its
    deadline, and tell a client that waits for it to go on."""
    _keep(conn, buffer, start, want)
    _awaiting_body(conn, state, expect)


def _awaiting_body(conn: TcpConnection, state: HttpState, expect: bool) -> None:
    if state.timer and state.mark < 0:  # the head's deadline: the head is in
        state.stop_timer()
    if not state.timer and state.body_timeout > 0:
        _body_deadline_in(conn, state)
    if expect and not state.continued:
        state.continued = True
        conn.write(_CONTINUE)


def _body_deadline_in(conn: TcpConnection, state: HttpState) -> None:
    state.mark = conn.bytes_read
    state.timer = current_loop().delay(state.body_timeout, _body_timed_out, conn, state)


def _body_timed_out(conn: TcpConnection, state: HttpState) -> None:
    """A ``body_timeout`` period of an incomplete body has passed: enough of it came to
    go on for another, or it is answered 408."""
    state.timer = 0
    if conn.status >= _CLOSING or state.pending or not (conn.recv_buffer_size or state.spool):
        return  # gone, or the request is whole (its handler runs)
    got = conn.bytes_read - state.mark
    if got and got >= state.min_body_rate * state.body_timeout:
        _body_deadline_in(conn, state)
        return
    reject(
        conn,
        state,
        408,
        f"the request body came too slowly ({got} bytes in {state.body_timeout:g}s)",
    )


def _wait(conn: TcpConnection, state: HttpState, buffer: bytes, start: int, timeout: float) -> None:
    """A head has begun but not ended: keep it, and give the client ``timeout`` seconds
    to finish it."""
    _keep(conn, buffer, start)
    if not state.timer and timeout > 0:
        state.mark = -1  # the timer is the head's
        state.timer = current_loop().delay(timeout, _timed_out, conn, state)


def _timed_out(conn: TcpConnection, state: HttpState) -> None:
    state.timer = 0
    if conn.status < _CLOSING and conn.recv_buffer_size:
        reject(conn, state, 408, "the request head did not arrive in time")


class ChunkCursor:
    """Where decoding a chunked body stands (HttpState has the same fields)."""

    __slots__ = ("cparts", "cpos", "csize")

    def __init__(self) -> None:
        self.cpos = 0
        self.cparts: list[bytes] = []
        self.csize = 0


def _dechunk(
    state: HttpState | ChunkCursor,
    buffer: bytes,
    start: int,
    pos: int,
    limit: int,
    max_trailer: int,
    max_chunks: int,
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
        if data_end + 2 - start > limit or state.csize + count > limit:
            raise RequestError(413, f"a chunked request over {limit} bytes")
        if data_end + 2 > size:
            want = data_end + 2 - start
            break
        if buffer[data_end : data_end + 2] != b"\r\n":
            raise RequestError(400, "chunk data is not followed by CRLF")
        if len(parts) >= max_chunks:
            raise RequestError(413, f"a chunked request of more than {max_chunks} chunks")
        parts.append(buffer[eol + 2 : data_end])
        state.csize += count
        pos = data_end + 2
    state.cpos = pos - start
    return None, want
