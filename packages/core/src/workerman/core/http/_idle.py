"""Idle connections get a deadline: one sweep per worker and loop closes the HTTP
connections that have had no request in progress and sent nothing for ``idle_timeout``
seconds (a keep-alive client that went quiet, a client that never sent a byte).

A per-connection timer would cost a timer start and cancel per request; the sweep (one
per worker and timeout, see ``_sweep``) costs one flag store per read, and a pass over
the worker's connections every quarter of the timeout, so a quiet connection is closed
between 1 and 1.25 timeouts after its last byte.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from workerman.core import ServerError, statistics

from ._settings import HttpSettings
from ._sweep import sweep_every

if TYPE_CHECKING:
    from workerman.core import TcpConnection, Worker

    from ._protocol import HttpState

logger = logging.getLogger("workerman.core")

_SWEEPS = 4  # sweeps per timeout


def watch(connection: TcpConnection, timeout: float) -> None:
    """Make sure the worker of ``connection`` sweeps for ``timeout`` on the running loop."""
    worker = connection.worker
    if worker is None or timeout <= 0:
        return
    try:
        sweep_every(worker, timeout / _SWEEPS, _sweep)
    except ServerError:  # a connection driven by hand, with no loop: nothing to sweep on
        return


def _sweep(worker: Worker, interval: float) -> None:
    timeout = interval * _SWEEPS  # exact: a power of two
    for connection in list(worker.connections.values()):
        found = connection.protocol_state
        if not isinstance(found, HttpSettings) or found.idle_timeout != timeout:
            continue  # another sweep's (an Http subclass), WebSocket's, or lingering
        state = cast("HttpState", found)  # (HttpState is the one HttpSettings there is)
        if state.seen or state.exchange.outstanding or state.stalled or state.streamer is not None:
            state.seen = False
            state.quiet = 0
            continue
        state.quiet += 1
        # the first quiet sweep may come just after the last byte: it does not count
        if state.quiet > _SWEEPS:
            statistics.timeouts += 1
            logger.info("%s closed: idle for %gs", connection.describe("connection"), timeout)
            connection.close()
