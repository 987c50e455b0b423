"""From received bytes to delivered requests: the connection's side of what the exchange
machine (``_machine``) reads, with the deadlines, the spool and the holds it asks for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from workerman.core import ConnectionStatus, current_loop

from ._errors import RequestError
from ._exchange import dispatch, reject
from ._machine import HttpExchange
from ._request import request_of
from ._spool import Spool

if TYPE_CHECKING:
    from workerman.core import TcpConnection

    from ._protocol import HttpState

__all__ = ["read_http"]

_CLOSING: Final = ConnectionStatus.CLOSING
_REQUEST: Final = HttpExchange.REQUEST
_HEAD: Final = HttpExchange.HEAD
_DATA: Final = HttpExchange.DATA
_END: Final = HttpExchange.END
_SEND: Final = HttpExchange.SEND
_NEED_DATA: Final = HttpExchange.NEED_DATA
_HEAD_BEGUN: Final = HttpExchange.HEAD_BEGUN
_BODY_BEGUN: Final = HttpExchange.BODY_BEGUN


def read_http(state: HttpState, data: bytes) -> None:
    """Feed ``data`` to the exchange and act on what it says: deliver every whole
    request, spool a large body, run the deadlines, hold the connection while a request
    is outstanding.

    It is HttpState.data_received itself (no call in between on the per-request path)."""
    conn = state.connection
    state.seen = True  # not idle (see _idle)
    exchange = state.exchange
    exchange.max_size = conn.max_package_size
    if conn.backlogged:
        exchange.receive(data)
        _stall(conn, state)
        return
    try:
        event = exchange.next_event(data)
        while True:
            if event == _REQUEST:
                if state.timer:
                    state.stop_timer()
                request = request_of(conn, exchange.head, exchange.body, exchange.info)
                # dispatch(conn, state, request), written out: a call per request is 1.5%
                # of its instructions (benchmarks/hotpath.py, http-batch, pure)
                state.request = request
                if conn.on_message is None:
                    dispatch(conn, state, request)
                else:
                    conn.deliver(request, state.failed)
                    if exchange.outstanding and not state.held:
                        state.held = True
                        conn.hold()
            elif event == _NEED_DATA:
                phase = exchange.phase
                if phase == _HEAD_BEGUN:
                    _head_deadline(conn, state)
                elif phase == _BODY_BEGUN:
                    _body_deadline(conn, state)
                return
            elif event == _DATA:
                spool = state.spool
                assert spool is not None
                try:
                    spool.feed(exchange.data)
                except OSError as exc:
                    _spool_failed(conn, state, exc)
                    return
                event = exchange.next_event()
                continue
            elif event == _SEND:
                conn.write(exchange.data)
                event = exchange.next_event()
                continue
            elif event == _HEAD:
                try:
                    state.spool = Spool(exchange.head, exchange.info.length, state.upload_tmp_dir)
                except OSError as exc:
                    _spool_failed(conn, state, exc)
                    return
                event = exchange.next_event()
                continue
            elif event == _END:
                spool = state.spool
                assert spool is not None
                state.spool = None
                if state.timer:
                    state.stop_timer()
                dispatch(conn, state, request_of(conn, spool.head, spool, exchange.info))
            else:  # PAUSED: the response to the outstanding request is not complete
                _hold_rest(conn, state)
                return
            # a request went to its handler
            if not exchange.phase:
                return  # nothing after it
            if conn.status >= _CLOSING:
                return
            if conn.protocol is not type(state):  # upgraded (WebSocket): the rest is theirs
                now = conn.protocol_state
                if now is not None:
                    now.data_received(exchange.take_rest())
                return
            if conn.holds:
                _hold_rest(conn, state)
                return
            if conn.backlogged:
                _stall(conn, state)
                return
            event = exchange.next_event()
    except RequestError as exc:
        reject(conn, state, exc.status, exc.reason)


def _hold_rest(conn: TcpConnection, state: HttpState) -> None:
    """The connection is held: what the exchange has not read yet waits with the
    connection, and comes back when it is released (or goes to a protocol it switched to)."""
    rest = state.exchange.take_rest()
    if rest:
        conn.keep(rest)


def _spool_failed(conn: TcpConnection, state: HttpState, exc: OSError) -> None:
    conn.report("spooling a request body", exc)
    state.drop_spool()
    reject(conn, state, 500, "the request body could not be stored")


def _stall(conn: TcpConnection, state: HttpState) -> None:
    """The client is not taking its answers: handle (and read) no more of its requests
    until it does, instead of answering into a full send buffer, which drops answers."""
    _hold_rest(conn, state)
    conn.hold()
    state.stalled = True
    if not conn.writing_paused:  # the answers are still in this read's batch: look later
        current_loop().call_soon(_recheck, conn, state)


def _recheck(conn: TcpConnection, state: HttpState) -> None:
    if state.stalled and not conn.writing_paused:  # (when paused, drained() resumes)
        state.stalled = False
        conn.release()


def _head_deadline(conn: TcpConnection, state: HttpState) -> None:
    """A head has begun but not ended: the client has ``header_timeout`` seconds to
    finish it."""
    timeout = state.header_timeout
    if not state.timer and timeout > 0:
        state.mark = -1  # the timer is the head's
        state.timer = current_loop().delay(timeout, _head_timed_out, conn, state)


def _head_timed_out(conn: TcpConnection, state: HttpState) -> None:
    state.timer = 0
    exchange = state.exchange
    if conn.status < _CLOSING and not exchange.outstanding and exchange.phase == _HEAD_BEGUN:
        reject(conn, state, 408, "the request head did not arrive in time")


def _body_deadline(conn: TcpConnection, state: HttpState) -> None:
    """The head is whole but the body is not: the body has its deadline."""
    if state.timer and state.mark < 0:  # the head's deadline: the head is in
        state.stop_timer()
    if not state.timer and state.body_timeout > 0:
        _body_deadline_in(conn, state)


def _body_deadline_in(conn: TcpConnection, state: HttpState) -> None:
    state.mark = conn.bytes_read
    state.timer = current_loop().delay(state.body_timeout, _body_timed_out, conn, state)


def _body_timed_out(conn: TcpConnection, state: HttpState) -> None:
    """A ``body_timeout`` period of an incomplete body has passed: enough of it came to
    go on for another, or it is answered 408."""
    state.timer = 0
    exchange = state.exchange
    if conn.status >= _CLOSING or exchange.outstanding or exchange.phase != _BODY_BEGUN:
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
