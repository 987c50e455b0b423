"""Start an app call at once, as Python 3.12's eager tasks do, on 3.11 too.

Called from inside a running task (a request handed over from a task), it makes an
ordinary task. A request whose app answers without waiting for anything (most hello-world and JSON routes)
then writes its response inside the read that brought the request: one write, and no
hold and release of the connection on the loop. The call still belongs to a real asyncio
Task made before the first step and current during it, in the task's own context, so
``asyncio.current_task()``, anyio's cancel scopes and context variables see what they
would in a task; if the app waits for something, that task carries on from where the
first step stopped. On 3.12 and later this is ``asyncio.Task(..., eager_start=True)``.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Callable, Coroutine, Generator
from typing import Any

__all__ = ["eager_spawner"]

Spawn = Callable[[Coroutine[Any, Any, None]], None]


class _Stepped(Coroutine[Any, Any, None]):
    """The coroutine a task drives after its first step was taken outside the loop: the
    task's first ``send`` gets what that step yielded (or the end, if it finished)."""

    __slots__ = ("coro", "finished", "yielded")

    def __init__(self, coro: Coroutine[Any, Any, None]) -> None:
        self.coro = coro
        self.finished = False
        self.yielded: Any = None

    def first_step(self) -> None:
        try:
            self.yielded = self.coro.send(None)
        except StopIteration:
            self.finished = True

    def send(self, value: Any) -> Any:
        if self.finished:
            raise StopIteration
        yielded = self.yielded
        if yielded is not self:  # the first send: what the step outside the loop yielded
            self.yielded = self
            return yielded
        return self.coro.send(value)

    def throw(self, *args: Any) -> Any:
        if self.finished:
            raise args[0] if len(args) == 1 else args[1]
        self.yielded = self
        return self.coro.throw(*args)

    def close(self) -> None:
        self.coro.close()

    def __await__(self) -> Generator[Any, None, None]:
        return self.coro.__await__()


def eager_spawner(loop: asyncio.AbstractEventLoop, keep: set[Any]) -> Spawn:
    """A function that runs a coroutine as a task of ``loop``, its first step at once;
    tasks still running are kept in ``keep`` (the loop holds only weak references)."""
    done = keep.discard
    if sys.version_info >= (3, 12):

        def spawn_312(coro: Coroutine[Any, Any, None]) -> None:
            task = asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
            if not task.done():
                keep.add(task)
                task.add_done_callback(done)

        return spawn_312

    from asyncio.tasks import _enter_task, _leave_task

    copy_context = contextvars.copy_context
    current_task = asyncio.current_task

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        if current_task(loop) is not None:  # called from a task: this one waits its turn
            keep.add(task := loop.create_task(coro))
            task.add_done_callback(done)
            return
        stepped = _Stepped(coro)
        context = copy_context()
        task = loop.create_task(stepped, context=context)
        _enter_task(loop, task)
        try:
            context.run(stepped.first_step)
        finally:
            _leave_task(loop, task)
        if not stepped.finished:
            keep.add(task)
            task.add_done_callback(done)

    return spawn
