"""One request, one response: handing requests to the handler, and writing what it sends
as the exchange machine (``_machine``) encodes it.

The machine hands out one request at a time: the next pipelined one waits, unread, until
the response to the current one is complete (a whole body sent, the last chunk of a
chunked response, or the last byte of a file). So responses leave in request order
whether the handler answers at once, from an async handler, or from a callback long
after it returned. Here the connection is held meanwhile, and released on completion.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from workerman.core import statistics

from ._answer import _stream, complete, fail, send_plain
from ._file import send_file
from ._machine import error_bytes
from ._response import Response
from ._source import send_source

if TYPE_CHECKING:
    from workerman.core import TcpConnection

    from ._protocol import HttpState
    from ._request import Request

logger = logging.getLogger("workerman.core")


def dispatch(conn: TcpConnection, state: HttpState, request: Request) -> None:
    """Call ``on_message`` with ``request`` (the exchange has handed it out); the
    connection stays held (reading no more requests) until the response is complete."""
    state.request = request
    if conn.on_message is None:
        statistics.total_request += 1  # deliver() counts the others
        fail(conn, state, 404, "no handler")
        return
    conn.deliver(request, state.failed)
    if state.exchange.outstanding and not state.held:
        state.held = True
        conn.hold()


def reject(conn: TcpConnection, state: HttpState, status: int, reason: str) -> None:
    """Bytes that are not an acceptable request: count, log, answer ``status``, close.

    The answer lingers (see ``TcpConnection.linger``): the client still sending a body
    we refused reads the answer instead of a reset."""
    if status == 408:
        statistics.timeouts += 1
    else:
        statistics.protocol_errors += 1
    logger.warning("%s closed: HTTP %d %s", conn.describe("connection"), status, reason)
    conn.drop_kept()
    state.drop_spool()
    if state.request is not None:
        fail(conn, state, status, reason)
        return
    state.stop_timer()
    conn.linger(error_bytes(status, reason.encode()), state.linger_timeout)


def respond(state: HttpState, message: Any) -> bool | None:
    """Send ``message`` as (part of) the response to the current request, and complete
    it when it is whole (it is HttpState.send itself)."""
    conn = state.connection
    request = state.request
    if request is None:
        raise RuntimeError("no HTTP request on this connection is waiting for a response")
    exchange = state.exchange
    if exchange.streaming:
        _stream(conn, state, message)
        return None
    kind = type(message)
    if kind is str or kind is bytes:
        if kind is str:
            text: str = message  # (typed: the compiled build encodes without a method call)
            body = text.encode()
        else:
            body = message
        if request._session is None:
            data = exchange.hello(body)
            if data is not None:
                conn.write(data)
                if state.held or request._files:
                    complete(conn, state)
                else:  # complete() with nothing to clean up and no one waiting
                    state.request = None
                return None
        message = Response(200, body=body)
    elif not isinstance(message, Response):
        raise TypeError(
            f"an HTTP connection sends str, bytes or Response, not {type(message).__name__}"
        )
    if message._file is not None:
        send_file(conn, state, request, message)
    elif message._source is not None:
        send_source(conn, state, request, message)
    else:
        send_plain(conn, state, request, message)
    return None
