"""Serving workers inside an event loop the caller already runs: no master, no fork, no
command line. What tests and programs that embed a server use."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio

from ._connection import live_connections
from ._loop import create_loop, current_loop_or_none, running_driver
from ._worker import close_and_wait

if TYPE_CHECKING:
    from ._worker import Worker

__all__ = ["serve"]


@contextlib.asynccontextmanager
async def serve(*workers: Worker) -> AsyncIterator[Any]:
    """Run ``workers`` in the current asyncio or trio loop for the duration of the block.

    Each worker binds (port 0 becomes a free port), listens and runs ``on_worker_start``;
    the block gets the bound address: ``(host, port)`` for TCP and UDP, the path for Unix
    sockets, or a tuple of those when several workers are given. Leaving the block, by
    return, exception or cancellation, stops the workers (``on_worker_stop``), closes
    their connections (flushing for up to ``Worker.stop_timeout`` seconds) and, when the
    block was the one that bound the workerman loop to this event loop, cancels every
    timer and task started while it ran. Callback errors are logged and counted as in
    a forked worker process.

    Example::

        async with serve(worker) as (host, port):
            ...
    """
    if not workers:
        raise TypeError("serve() needs at least one worker")
    async with contextlib.AsyncExitStack() as stack:
        if current_loop_or_none() is None:
            await stack.enter_async_context(create_loop(running_driver()).open())
        started: list[Worker] = []
        try:
            for worker in workers:
                started.append(worker)
                await worker._start()
            addresses = [_address(worker) for worker in workers]
            yield addresses[0] if len(addresses) == 1 else tuple(addresses)
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(started)


def _address(worker: Worker) -> Any:
    bound = worker.listening
    if isinstance(bound, tuple):
        return (bound[0], bound[1])
    return bound


async def _stop(workers: list[Worker]) -> None:
    timeout = type(workers[0]).stop_timeout if workers else 2.0
    for worker in reversed(workers):
        await worker._stop()
    mine = {id(worker) for worker in workers}
    await close_and_wait(
        lambda: [c for c in live_connections().values() if id(c.worker) in mine], timeout
    )
