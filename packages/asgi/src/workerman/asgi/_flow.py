"""Waiting in ``receive`` and ``send``: for the client's next message or its leaving, and
while the client is not taking what was sent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from workerman.core import current_loop

if TYPE_CHECKING:
    from workerman.core import Future, TcpConnection

__all__ = ["Waiting", "wait_for_drain"]


class Waiting:
    """A cycle's two waits: ``waiter`` (a ``receive``) and ``drain`` (a ``send``)."""

    __slots__ = ("drain", "waiter")

    def __init__(self) -> None:
        self.waiter: Future | None = None
        self.drain: Future | None = None

    def wake(self) -> None:
        """What a waiting ``receive`` waits for has come: it goes on."""
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def drained(self) -> None:
        """The client took what was sent (or went): a waiting ``send`` goes on."""
        drain, self.drain = self.drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)


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
