"""One request, one response: handing requests to the handler and what it sends to the
wire, in request order.

A connection handles one request at a time. The next pipelined request waits, its bytes
kept, until the response to the current one is complete: a whole body sent, the last
chunk of a chunked response, or the last byte of a file. So responses leave in request
order whether the handler answers at once, from an async handler, or from a callback
long after it returned.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from workerman.core import statistics

from ._answer import _stream, complete, error_bytes, fail, send_plain, write_hello
from ._file import send_file
from ._response import Response
from ._source import send_source

if TYPE_CHECKING:
    from workerman.core import TcpConnection

    from ._protocol import HttpState
    from ._request import Request

logger = logging.getLogger("workerman.core")


def dispatch(conn: TcpConnection, state: HttpState, request: Request) -> None:
    """Call ``on_message`` with ``request``; the connection stays held (reading no more
    requests) until the response is complete."""
    state.request = request
    state.pending = True
    state.streaming = 0
    left = state.requests_left - 1  # (1 once draining: this request is the last)
    state.requests_left = left
    state.close_after = not (request.keep_alive and left)
    state.continued = False
    if conn.on_message is None:
        statistics.total_request += 1  # deliver() counts the others
        fail(conn, state, 404, "no handler")
        return
    conn.deliver(request, state.failed)
    if state.pending and not state.held:
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
    kind = type(message)
    if state.streaming:
        _stream(conn, state, message)
        return None
    if kind is str or kind is bytes:
        body = message.encode() if kind is str else message
        if (
            request.protocol_version == "1.1"
            and not state.close_after
            and request._session is None
            and request.method != "HEAD"
        ):
            write_hello(conn, body)
            if state.held or request._files:
                complete(conn, state)
            else:  # complete() with nothing to clean up and no one waiting
                state.request = None
                state.pending = False
            return None
        message = Response(200, body=body)
    elif not isinstance(message, Response):
        raise TypeError(
            f"an HTTP connection sends str, bytes or Response, not {type(message).__name__}"
        )
    send_response(conn, state, request, message)
    return None


def send_response(
    conn: TcpConnection, state: HttpState, request: Request, response: Response
) -> None:
    if response._file is not None:
        send_file(conn, state, request, response)
    elif response._source is not None:
        send_source(conn, state, request, response)
    else:
        send_plain(conn, state, request, response)
