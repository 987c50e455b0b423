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
variable changed, the host is retired, so no request sees another's context. The host's
driver (a generator sent each call in turn, running it with ``yield from``) takes the
step, so a call that returns in it ends without a StopIteration to raise and catch.

This is what Python 3.12's eager tasks do (a task made per request, its first step run at
once); from 3.12 on they are used instead. Called from inside a running task (a request
handed over from a task), it makes an ordinary task.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import CoroutineType
from typing import Any, Final

from ._driver import DONE
from ._driver import primed as _primed

__all__ = ["Call", "Ended", "carry", "eager_caller"]

#: what a driver yields when the call it drives has returned (Final: a C static, compiled)
_DONE: Final = DONE

#: ``call(app, scope, cycle)``: run ``app(scope, cycle.receive, cycle.send)``
Call = Callable[[Any, dict[str, Any], Any], None]
#: ``ended(cycle, exc)``: the app call of ``cycle`` returned (None) or raised ``exc``
Ended = Callable[[Any, BaseException | None], None]


async def carry(app: Any, scope: dict[str, Any], cycle: Any, ended: Ended) -> None:
    """The whole app call as one coroutine, ``ended`` told how it ended (for a task)."""
    await _ending(app(scope, cycle.receive, cycle.send), cycle, ended)


async def _ending(call: Awaitable[None], cycle: Any, ended: Ended) -> None:
    try:
        await call
    except BaseException as exc:  # a cancellation is told too (and goes on)
        ended(cycle, exc)
        if not isinstance(exc, Exception):
            raise
    else:
        ended(cycle, None)


async def _awaiting(call: Awaitable[None]) -> None:
    await call  # an awaitable that is not a coroutine: driven through one


class _Resume:
    """Awaitable that goes on with a coroutine suspended at ``yielded``: the task awaiting
    it sees that value first, then every later one, and sends and throws pass through."""

    __slots__ = ("coro", "yielded")

    def __init__(
        self, coro: Coroutine[Any, Any, None] | Generator[Any, Any, None], yielded: Any
    ) -> None:
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
            if value is _DONE:  # a driver's call has returned
                return


class _Host:
    """A parked task that a step runs as, and that takes the call over if it waits."""

    __slots__ = ("context", "driver", "handoff", "size", "snapshot", "step", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.context = contextvars.copy_context()
        self.snapshot = list(self.context.items())
        self.size = len(self.snapshot)  # (an empty context is clean while it stays empty)
        self.driver = _primed()
        self.step = self.driver.send
        self.handoff: asyncio.Future[Coroutine[Any, Any, None]] = loop.create_future()
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


def eager_caller(loop: asyncio.AbstractEventLoop, keep: set[Any], ended: Ended) -> Call:
    """A ``call`` that runs app calls on ``loop``, each one's first step at once, and
    tells ``ended`` how each ended; tasks still running are kept in ``keep`` (the loop
    holds only weak references to tasks)."""
    done = keep.discard
    if sys.version_info >= (3, 12):

        def call_312(app: Any, scope: dict[str, Any], cycle: Any) -> None:
            coro = carry(app, scope, cycle, ended)
            task = asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
            if not task.done():
                keep.add(task)
                task.add_done_callback(done)

        return call_312

    from asyncio.tasks import _current_tasks, _enter_task, _leave_task  # type: ignore[attr-defined]

    running = _current_tasks.get  # (asyncio.current_task is a Python function on 3.11)
    hosts = [_Host(loop)]

    def call(app: Any, scope: dict[str, Any], cycle: Any) -> None:
        if running(loop) is not None:  # called from a task: this one waits its turn
            keep.add(task := loop.create_task(carry(app, scope, cycle, ended)))
            task.add_done_callback(done)
            return
        host = hosts[0]
        if host.task.done():  # cancelled while parked
            host = hosts[0] = _Host(loop)
        task = host.task
        run = host.context.run
        _enter_task(loop, task)
        try:
            coro = run(app, scope, cycle.receive, cycle.send)
            if type(coro) is not CoroutineType:
                coro = _awaiting(coro)
            yielded = run(host.step, coro)
        except BaseException as exc:
            _leave_task(loop, task)
            if not host.clean():
                hosts[0] = _Host(loop)
            else:  # the driver ended with the call (or the call was not made)
                host.driver = _primed()
                host.step = host.driver.send
            ended(cycle, exc)
            if not isinstance(exc, Exception):
                raise
            return
        _leave_task(loop, task)
        if yielded is _DONE:
            if len(host.context) != host.size or (host.size and not host.clean()):
                hosts[0] = _Host(loop)
            ended(cycle, None)
            return
        hosts[0] = _Host(loop)  # the host goes on with this call; the next one waits
        host.handoff.set_result(_ending(_Resume(host.driver, yielded), cycle, ended))
        keep.add(task)
        task.add_done_callback(done)

    return call
