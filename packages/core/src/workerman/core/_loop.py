"""The event loop facade that the core and every component share.

It is Workerman's EventInterface in Python form: timers (delay, repeat, cancel),
readiness callbacks on file descriptors, signal callbacks, spawning coroutines, run
and stop. Two drivers implement it: ``asyncio`` (uvloop when installed) whose network
hot path is asyncio Protocol callbacks, and ``trio``. Code that needs to await uses
anyio, which runs on either.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import errno
import importlib.util
import inspect
import itertools
import logging
import socket
import sys
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from typing import Any

from ._callbacks import report
from ._exceptions import ServerError
from ._statistics import count_from

__all__ = [
    "DRIVERS",
    "EventLoop",
    "Future",
    "create_loop",
    "current_loop",
    "current_loop_or_none",
    "invoke",
    "running_driver",
]

logger = logging.getLogger("workerman.core")

DRIVERS = ("asyncio", "uvloop", "trio")


class Future(typing.Protocol):
    """What :meth:`EventLoop.create_future` returns, on either driver."""

    def set_result(self, result: Any) -> None: ...

    def set_exception(self, exception: BaseException) -> None: ...

    def done(self) -> bool: ...

    def __await__(self) -> Generator[Any, None, Any]: ...


_timer_ids = itertools.count(1)
_current: EventLoop | None = None


def current_loop() -> EventLoop:
    """The workerman loop of this process.

    Inside a worker it is the worker's loop. Anywhere else it binds itself, on first
    use, to the asyncio (or uvloop) or trio loop that is running, and lets go of it when
    that loop ends, so components work in ``asyncio.run(...)``, ``trio.run(...)`` and
    anyio programs as they do in workers.

    Raises:
        ServerError: called from synchronous code with no event loop running.
    """
    loop = _current
    if loop is not None and (not loop._adopted or loop._still_running()):
        return loop
    return _adopt_running()


def current_loop_or_none() -> EventLoop | None:
    """The loop bound now, if any; never binds one."""
    loop = _current
    if loop is not None and loop._adopted and not loop._still_running():
        return None
    return loop


def invoke(fn: Callable[..., Any], args: tuple[Any, ...], where: Callable[[], str]) -> Any:
    """Call ``fn(*args)``; an awaitable result is run as a task on the current loop.

    ``where`` builds the log context only when something goes wrong.
    Returns the awaitable it spawned (or None), so callers can tell.
    """
    try:
        result = fn(*args)
    except Exception as exc:
        report(where(), exc)
        return None
    if result is not None and inspect.isawaitable(result):
        current_loop().spawn_awaitable(result, where)
        return result
    return None


def running_driver() -> str:
    """The driver for the native loop running in this thread: "trio", "uvloop" or
    "asyncio".

    Raises:
        ServerError: no asyncio or trio loop is running here.
    """
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass
        else:
            return "trio"
    running = asyncio._get_running_loop()
    if running is None:
        raise ServerError(
            "no event loop is running: call this from async code (asyncio.run, uvloop.run, "
            "trio.run, anyio.run) or from a worker callback"
        )
    return "uvloop" if type(running).__module__.startswith("uvloop") else "asyncio"


def _adopt_running() -> EventLoop:
    global _current
    loop = create_loop(running_driver())
    loop._adopt()
    loop._adopted = True
    _current = loop
    return loop


def create_loop(driver: str | None = None) -> EventLoop:
    """Make an event loop for ``driver``: "asyncio", "uvloop", "trio", or None for the
    fastest installed asyncio flavour (uvloop when importable, else asyncio)."""
    if driver is None:
        driver = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    if driver in ("asyncio", "uvloop"):
        from ._asyncio_loop import AsyncioLoop

        return AsyncioLoop(uvloop=driver == "uvloop")
    if driver == "trio":
        if importlib.util.find_spec("trio") is None:
            raise ServerError("event_loop 'trio' needs trio: pip install 'workerman-core[trio]'")
        from ._trio_loop import TrioLoop

        return TrioLoop()
    raise ServerError(f"unknown event loop {driver!r}; choose one of {', '.join(DRIVERS)}")


class EventLoop(abc.ABC):
    """One process's event loop. All methods are synchronous and safe to call from any
    callback running on the loop; none blocks."""

    #: driver name: "asyncio", "uvloop" or "trio"
    name: str

    def __init__(self) -> None:
        self._timers: dict[int, Any] = {}
        self._readers: dict[int, Any] = {}
        self._writers: dict[int, Any] = {}
        self._signals: dict[int, Any] = {}
        self._stopping = False
        #: a graceful stop is under way: a connection made now is drained from the start
        self._draining = False
        #: connections taken from a closing listener's queue, not made yet (accept_queued)
        self._adopting = 0
        #: a reload: this process's listeners close, the master's socket stays open
        self._handing_over = False
        #: bound by current_loop() to a native loop it did not start (see _adopt)
        self._adopted = False

    def _adoption_done(self, *_: Any) -> None:
        self._adopting -= 1

    # -- timers -------------------------------------------------------------------

    def delay(self, seconds: float, callback: Callable[..., Any], *args: Any) -> int:
        """Call ``callback(*args)`` once after ``seconds``; returns the timer id."""
        return self._add_timer(seconds, callback, args, repeat=False)

    def repeat(self, interval: float, callback: Callable[..., Any], *args: Any) -> int:
        """Call ``callback(*args)`` every ``interval`` seconds; returns the timer id."""
        return self._add_timer(interval, callback, args, repeat=True)

    def _add_timer(
        self, interval: float, callback: Callable[..., Any], args: tuple[Any, ...], repeat: bool
    ) -> int:
        if not interval > 0:
            raise ValueError(f"timer interval must be positive, got {interval!r}")
        timer_id = next(_timer_ids)
        self._schedule(timer_id, float(interval), callback, args, repeat)
        return timer_id

    def _fire(self, timer_id: int, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        invoke(callback, args, lambda: f"timer {timer_id} callback {callback!r}")

    def cancel(self, timer_id: int) -> bool:
        """Cancel a timer; False when it already ran (one-shot) or never existed."""
        handle = self._timers.pop(timer_id, None)
        if handle is None:
            return False
        self._cancel_handle(handle)
        return True

    def cancel_all(self) -> None:
        """Cancel every timer of this loop."""
        for timer_id in list(self._timers):
            self.cancel(timer_id)

    def timer_count(self) -> int:
        """How many timers are pending."""
        return len(self._timers)

    @abc.abstractmethod
    def _schedule(
        self,
        timer_id: int,
        interval: float,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
        repeat: bool,
    ) -> None: ...

    @abc.abstractmethod
    def _cancel_handle(self, handle: Any) -> None: ...

    # -- readiness and signals ------------------------------------------------------

    @abc.abstractmethod
    def on_readable(self, fd: Any, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(fd)`` whenever ``fd`` (an int or an object with fileno()) is
        readable, until :meth:`off_readable`. One callback per fd; a new one replaces it."""

    @abc.abstractmethod
    def off_readable(self, fd: Any) -> bool:
        """Stop watching ``fd`` for reading; False when it was not watched."""

    @abc.abstractmethod
    def on_writable(self, fd: Any, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(fd)`` whenever ``fd`` is writable, until :meth:`off_writable`."""

    @abc.abstractmethod
    def off_writable(self, fd: Any) -> bool:
        """Stop watching ``fd`` for writing; False when it was not watched."""

    @abc.abstractmethod
    def on_signal(self, signum: int, callback: Callable[[int], Any]) -> None:
        """Call ``callback(signum)`` on the loop each time the process gets ``signum``."""

    @abc.abstractmethod
    def off_signal(self, signum: int) -> bool:
        """Stop handling ``signum`` here; False when it was not handled."""

    # -- tasks --------------------------------------------------------------------

    def spawn(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Run ``await fn(*args)`` as a task of this loop. An exception it raises is
        logged; it never stops the loop."""
        self.spawn_awaitable(fn(*args), lambda: f"task {getattr(fn, '__qualname__', fn)!r}")

    @abc.abstractmethod
    def spawn_awaitable(
        self,
        awaitable: Awaitable[Any],
        where: Callable[[], str],
        done: Callable[[], Any] | None = None,
    ) -> None:
        """Run an awaitable as a task; log what it raises (``where`` names it), then
        call ``done()`` when it finishes in any way."""

    async def _guard(
        self, awaitable: Awaitable[Any], where: Callable[[], str], done: Callable[[], Any] | None
    ) -> None:
        try:
            await awaitable
        except Exception as exc:
            report(where(), exc)
        finally:
            if done is not None:
                done()

    @abc.abstractmethod
    def create_future(self) -> Future:
        """A one-shot result: plain callbacks call ``set_result``/``set_exception``,
        one coroutine awaits it. What a client's pending request waits on; on asyncio an
        ``asyncio.Future``, on trio a task parked until it is set."""

    @abc.abstractmethod
    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` on the next loop iteration."""

    @abc.abstractmethod
    def time(self) -> float:
        """The loop's monotonic clock, in seconds."""

    # -- run and stop -------------------------------------------------------------

    def run(self, main: Callable[[], Any] | None = None) -> None:
        """Run the loop in this thread until :meth:`stop`; call ``main()`` (plain or
        async) once it is running."""
        self._run_native(self._main(main))

    async def _main(self, main: Callable[[], Any] | None) -> None:
        async with self.open():
            if main is not None:
                result = main()
                if result is not None and hasattr(result, "__await__"):
                    await result
            await self._wait_stopped()

    @abc.abstractmethod
    def _run_native(self, coro: Coroutine[Any, Any, None]) -> None: ...

    @abc.abstractmethod
    def open(self) -> contextlib.AbstractAsyncContextManager[EventLoop]:
        """Bind this facade to the native loop already running in this task (asyncio or
        trio, per driver) for the duration of an ``async with`` block; on exit every
        timer, watcher and task it started is cancelled."""

    @abc.abstractmethod
    async def _wait_stopped(self) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None:
        """Ask the loop to stop; :meth:`run` returns after the current iteration."""

    @abc.abstractmethod
    def _adopt(self) -> None:
        """Bind to the native loop running now, with no block to leave: what
        :func:`current_loop` does outside workers. Tasks and timers end with that loop."""

    @abc.abstractmethod
    def _still_running(self) -> bool:
        """Whether the native loop this facade adopted is the one running now."""

    @contextlib.asynccontextmanager
    async def _as_current(self) -> AsyncIterator[EventLoop]:
        global _current
        # A loop adopted on first use gives way to one opened for a block (serve(),
        # a worker), and is back in place afterwards while its native loop still runs.
        previous = current_loop_or_none()
        if previous is not None and not previous._adopted:
            raise ServerError("a workerman event loop is already running in this process")
        _current = self
        self._stopping = False
        self._draining = False
        self._handing_over = False
        try:
            yield self
        finally:
            self.cancel_all()
            for fd in list(self._readers):
                self.off_readable(fd)
            for fd in list(self._writers):
                self.off_writable(fd)
            for signum in list(self._signals):
                self.off_signal(signum)
            _current = previous if previous is not None and previous._still_running() else None


def _timer_count() -> int:
    loop = current_loop_or_none()
    return loop.timer_count() if loop is not None else 0


count_from(timers=_timer_count)


def fileno(fd: Any) -> int:
    return fd if isinstance(fd, int) else int(fd.fileno())


_REFUSED_BEFORE_ACCEPT = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})


def accept_queued(sock: socket.socket, adopt: Callable[[socket.socket, EventLoop], Any]) -> None:
    """Accept every connection waiting in the kernel's queue of the listening ``sock``
    (which closes next) and ``adopt`` each: closed with connections in its queue, the
    socket resets them, and a client that connected (and may have sent a request) while
    the server was stopping would get a reset instead of an answer.

    Each adopted connection counts in the loop's ``_adopting`` until it is made (``adopt``
    arranges that), so a stop can wait for them. In a reload the queue is left alone: the
    master keeps the socket open, and the processes that go on take them."""
    loop = current_loop_or_none()
    if sock.fileno() < 0 or loop is None or loop._handing_over:
        return
    sock.setblocking(False)
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return  # none left
        except OSError as exc:
            if exc.errno in _REFUSED_BEFORE_ACCEPT:
                continue  # that one went away; the next
            return  # none can be taken (out of descriptors): they are reset with the close
        loop._adopting += 1
        adopt(conn, loop)
