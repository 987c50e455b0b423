"""Sweeps over a worker's connections: one repeating timer per worker, loop, function
and interval, shared by the HTTP idle deadline and the WebSocket heartbeat. A sweep costs
nothing per message; what it looks at is a flag or two the protocol sets as bytes come."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workerman.core import EventLoop, current_loop

if TYPE_CHECKING:
    from workerman.core import Worker

__all__ = ["sweep_every"]

Sweep = Callable[["Worker", float], Any]

# per worker: the loop its sweeps run on, and the (function, interval) pairs running there
_running: weakref.WeakKeyDictionary[Worker, tuple[EventLoop, set[tuple[Sweep, float]]]] = (
    weakref.WeakKeyDictionary()
)


def sweep_every(worker: Worker, interval: float, sweep: Sweep) -> None:
    """Call ``sweep(worker, interval)`` every ``interval`` seconds on the running loop,
    started once per worker, loop, function and interval.

    Raises:
        ServerError: no event loop is running.
    """
    loop = current_loop()
    running = _running.get(worker)
    if running is None or running[0] is not loop:
        running = _running[worker] = (loop, set())
    if (sweep, interval) in running[1]:
        return
    running[1].add((sweep, interval))
    loop.repeat(interval, sweep, worker, interval)
