"""Run an app call's first step at once, inside a task, without making a task per request.

A request whose app answers without waiting for anything (most hello-world and JSON routes)
then writes its response inside the read that brought the request: one write, no task
scheduled, no hold and release of the connection on the loop.

The step runs as a *host*: a real asyncio Task, parked, that is current during the step
(``asyncio.current_task()``, anyio's cancel scopes and sniffio see a task) and whose
context the step runs in. If the app waits for something, the host carries the call on
from where the step stopped, so what the step saw stays true (the task a cancel scope was
entered in, the context its variables were set in), and a new host is parked for the next
requests. A call that finishes in its step leaves the host as it was; if it left a context
variable changed, the host is retired, so no request sees another's context.

This is what Python 3.12's eager tasks do (a task made per request, its first step run at
once); from 3.12 on they are used instead. Called from inside a running task (a request
handed over from a task), it makes an ordinary task.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Callable, Coroutine, Generator
from typing import Any

__all__ = ["eager_spawner"]

Spawn = Callable[[Coroutine[Any, Any, None]], None]


class _Resume:
    """Awaitable that goes on with a coroutine suspended at ``yielded``: the task awaiting
    it sees that value first, then every later one, and sends and throws pass through."""

    __slots__ = ("coro", "yielded")

    def __init__(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        self.coro = coro
        self.yielded = yielded

    def __await__(self) -> Generator[Any, Any, None]:
        coro, value = self.coro, self.yielded
        self.coro = self.yielded = None  # type: ignore[assignment]
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancellation, most often: the call's own
                try:
                    value = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    value = coro.send(sent)
                except StopIteration:
                    return


class _Host:
    """A parked task that a step runs as, and that takes the call over if it waits."""

    __slots__ = ("context", "handoff", "snapshot", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.context = contextvars.copy_context()
        self.snapshot = list(self.context.items())
        self.handoff: asyncio.Future[_Resume] = loop.create_future()
        self.task = loop.create_task(self._run(), context=self.context)

    async def _run(self) -> None:
        try:
            call = await self.handoff
        except asyncio.CancelledError:  # cancelled while parked (it is retired then)
            return
        await call

    def clean(self) -> bool:
        """The context is as the host was made with (no variable left changed)."""
        context, snapshot = self.context, self.snapshot
        if len(context) != len(snapshot):
            return False
        get = context.get
        for var, value in snapshot:  # noqa: SIM110 (a generator per request costs more)
            if get(var, None) is not value:
                return False
        return True


def eager_spawner(loop: asyncio.AbstractEventLoop, keep: set[Any]) -> Spawn:
    """A function that runs a coroutine on ``loop``, its first step at once; tasks still
    running are kept in ``keep`` (the loop holds only weak references to tasks)."""
    done = keep.discard
    current_task = asyncio.current_task
    if sys.version_info >= (3, 12):

        def spawn_312(coro: Coroutine[Any, Any, None]) -> None:
            task = asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
            if not task.done():
                keep.add(task)
                task.add_done_callback(done)

        return spawn_312

    from asyncio.tasks import _enter_task, _leave_task

    hosts = [_Host(loop)]

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        if current_task(loop) is not None:  # called from a task: this one waits its turn
            keep.add(task := loop.create_task(coro))
            task.add_done_callback(done)
            return
        host = hosts[0]
        if host.task.done():  # cancelled while parked
            host = hosts[0] = _Host(loop)
        task = host.task
        _enter_task(loop, task)
        try:
            yielded = host.context.run(coro.send, None)
        except StopIteration:
            if not host.clean():
                hosts[0] = _Host(loop)
            return
        finally:
            _leave_task(loop, task)
        hosts[0] = _Host(loop)  # the host goes on with this call; the next one waits
        host.handoff.set_result(_Resume(coro, yielded))
        keep.add(task)
        task.add_done_callback(done)

    return spawn
