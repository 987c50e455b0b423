"""Idle connections get a deadline: one sweep per worker and loop closes the HTTP
connections that have had no request in progress and sent nothing for ``idle_timeout``
seconds (a keep-alive client that went quiet, a client that never sent a byte).

A per-connection timer would cost a timer start and cancel per request; the sweep costs
one flag store per read, and a pass over the worker's connections every quarter of the
timeout, so a quiet connection is closed between 1 and 1.25 timeouts after its last byte.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING

from workerman.core import EventLoop, ServerError, current_loop, statistics

from ._settings import HttpSettings

if TYPE_CHECKING:
    from workerman.core import TcpConnection, Worker

logger = logging.getLogger("workerman.core")

_SWEEPS = 4  # sweeps per timeout
# per worker: the loop its sweep runs on, the timeout it was made for, its timer
_Sweep = tuple[EventLoop, float, int]
_sweeping: weakref.WeakKeyDictionary[Worker, _Sweep] = weakref.WeakKeyDictionary()


def watch(connection: TcpConnection, timeout: float) -> None:
    """Make sure the worker of ``connection`` has its sweep on the running loop."""
    worker = connection.worker
    if worker is None or timeout <= 0:
        return
    try:
        loop = current_loop()
    except ServerError:  # a connection driven by hand, with no loop: nothing to sweep on
        return
    running = _sweeping.get(worker)
    if running is not None and running[0] is loop:
        if running[1] <= timeout:
            return
        loop.cancel(running[2])  # a shorter timeout (another Http subclass): sweep faster
    timer = loop.repeat(timeout / _SWEEPS, _sweep, worker, timeout)
    _sweeping[worker] = (loop, timeout, timer)


def _sweep(worker: Worker, timeout: float) -> None:
    for connection in list(worker.connections.values()):
        state = connection.protocol_state
        if not isinstance(state, HttpSettings) or state.idle_timeout <= 0:
            continue  # upgraded to WebSocket (its heartbeat watches it), or lingering
        if state.seen or state.pending or state.stalled or state.streamer is not None:
            state.seen = False
            state.quiet = 0
            continue
        state.quiet += 1
        # the first quiet sweep may come just after the last byte: it does not count
        if (state.quiet - 1) * timeout >= _SWEEPS * state.idle_timeout:
            statistics.protocol_errors += 1
            logger.info(
                "%s closed: idle for %gs", connection.describe("connection"), state.idle_timeout
            )
            connection.close()
