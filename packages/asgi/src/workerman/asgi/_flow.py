"""Waiting in ``send`` while the client is not taking what was sent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from workerman.core import current_loop

if TYPE_CHECKING:
    from workerman.core import Future, TcpConnection

__all__ = ["wait_for_drain"]


class _Cycle(Protocol):
    conn: TcpConnection
    drain: Future | None

    def drained(self) -> None: ...


async def wait_for_drain(cycle: _Cycle) -> None:
    """Wait until the connection's send buffer empties (``drained()`` is called by the
    worker's ``on_buffer_drain``, or when the connection is lost)."""
    loop = current_loop()
    drain = cycle.drain = loop.create_future()
    if not cycle.conn.writing_paused:  # full inside this read's batch: look once it is out
        loop.call_soon(_look_again, cycle, drain)
    await drain


def _look_again(cycle: Any, drain: Future) -> None:
    if cycle.drain is drain and not cycle.conn.writing_paused:
        cycle.drained()
