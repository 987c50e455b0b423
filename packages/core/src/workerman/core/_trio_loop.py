"""The trio driver: one timer task over a heap, a task per watcher, a task per connection."""

from __future__ import annotations

import contextlib
import errno
import functools
import heapq
import logging
import math
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from typing import Any

import outcome
import trio

from ._callbacks import accept_failed
from ._loop import EventLoop, Future, accept_queued, fileno, invoke
from ._trio_transport import StreamTransport

logger = logging.getLogger("workerman.core")

_ACCEPT_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_ACCEPT_RETRY = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EAGAIN})
_BACKOFF_FIRST = 0.05
_BACKOFF_MAX = 1.0
_HANDSHAKE_TIMEOUT = 60.0


def _describe(callback: Callable[..., Any]) -> str:
    return f"callback {callback!r}"


class _Timer:
    __slots__ = ("args", "callback", "interval", "when")

    def __init__(
        self,
        when: float,
        interval: float | None,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> None:
        self.when = when
        self.interval = interval
        self.callback = callback
        self.args = args


class _Listener:
    """Stops an accept loop; what Worker keeps per listening socket. Closing takes the
    connections still queued in the kernel first (``adopt`` serves each; see
    ``accept_queued``)."""

    def __init__(
        self, scope: trio.CancelScope, sock: socket.socket, adopt: Callable[[Any, bool], None]
    ) -> None:
        self._scope = scope
        self._sock = sock
        self._adopt = adopt

    def close(self) -> None:
        self._scope.cancel()
        accept_queued(
            self._sock, lambda conn, _: self._adopt(trio.socket.from_stdlib_socket(conn), True)
        )
        self._sock.close()


class _SystemTasks:
    """Starts tasks as trio system tasks: the nursery of a loop adopted outside a block."""

    __slots__ = ()

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        trio.lowlevel.spawn_system_task(fn, *args)


class TrioLoop(EventLoop):
    name = "trio"

    def __init__(self) -> None:
        super().__init__()
        self._nursery: trio.Nursery = None  # type: ignore[assignment]
        self._heap: list[tuple[float, int]] = []
        self._wakeup: trio.CancelScope | None = None
        self._stopped: trio.Event | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._soon: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._soon_event: trio.Event | None = None
        self._watch_exits: dict[tuple[Any, int], trio.Event] = {}

    # -- timers: a heap of (deadline, id), one task sleeping until the earliest -----

    def _schedule(
        self,
        timer_id: int,
        interval: float,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
        repeat: bool,
    ) -> None:
        when = trio.current_time() + interval
        self._timers[timer_id] = _Timer(when, interval if repeat else None, callback, args)
        heapq.heappush(self._heap, (when, timer_id))
        if self._wakeup is not None and when < self._wakeup.deadline:
            self._wakeup.deadline = when

    def _cancel_handle(self, handle: Any) -> None:
        pass  # the heap entry is skipped when its id is gone from _timers

    async def _run_timers(self) -> None:
        heap = self._heap
        timers = self._timers
        while True:
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                when, timer_id = heapq.heappop(heap)
                timer = timers.get(timer_id)
                if timer is None or timer.when != when:
                    continue
                if timer.interval is None:
                    del timers[timer_id]
                else:
                    timer.when = max(when + timer.interval, now)
                    heapq.heappush(heap, (timer.when, timer_id))
                self._fire(timer_id, timer.callback, timer.args)
            with trio.CancelScope(deadline=heap[0][0] if heap else math.inf) as scope:
                self._wakeup = scope
                await trio.sleep_forever()
            self._wakeup = None

    # -- readiness and signals ------------------------------------------------------

    def _watch(
        self,
        table: dict[int, Any],
        fd: Any,
        callback: Callable[[Any], Any],
        wait: Callable[[int], Awaitable[None]],
    ) -> None:
        key = fileno(fd)
        old = table.pop(key, None)
        if old is not None:
            old.cancel()
        scope = trio.CancelScope()
        table[key] = scope
        # Trio lets one task wait on an fd per direction: a watcher just replaced or
        # removed may still be parked in wait(), so the new one waits for it to leave.
        slot = (wait, key)
        previous = self._watch_exits.get(slot)
        left = self._watch_exits[slot] = trio.Event()

        async def watch() -> None:
            try:
                with scope:
                    if previous is not None:
                        await previous.wait()
                    while True:
                        await wait(key)
                        if scope.cancel_called:  # unwatched after fd became ready
                            return
                        invoke(callback, (fd,), lambda: f"fd {fd!r} callback {callback!r}")
                        await trio.lowlevel.checkpoint()
            finally:
                left.set()
                if self._watch_exits.get(slot) is left:
                    del self._watch_exits[slot]

        self._nursery.start_soon(watch)

    def _unwatch(self, table: dict[int, Any], fd: Any) -> bool:
        scope = table.pop(fileno(fd), None)
        if scope is None:
            return False
        scope.cancel()
        return True

    def on_readable(self, fd: Any, callback: Callable[[Any], Any]) -> None:
        self._watch(self._readers, fd, callback, trio.lowlevel.wait_readable)

    def off_readable(self, fd: Any) -> bool:
        return self._unwatch(self._readers, fd)

    def on_writable(self, fd: Any, callback: Callable[[Any], Any]) -> None:
        self._watch(self._writers, fd, callback, trio.lowlevel.wait_writable)

    def off_writable(self, fd: Any) -> bool:
        return self._unwatch(self._writers, fd)

    def on_signal(self, signum: int, callback: Callable[[int], Any]) -> None:
        self.off_signal(signum)
        scope = trio.CancelScope()
        manager = trio.open_signal_receiver(signum)
        receiver = manager.__enter__()  # install the handler now, not when the task first runs
        self._signals[signum] = (scope, manager)

        async def watch() -> None:
            with scope:
                # off_signal closes the receiver at once; never ask a closed one again.
                while not scope.cancel_called:
                    got = await anext(receiver)
                    invoke(callback, (got,), lambda: f"signal {signum} callback {callback!r}")

        self._nursery.start_soon(watch)

    def off_signal(self, signum: int) -> bool:
        entry = self._signals.pop(signum, None)
        if entry is None:
            return False
        scope, manager = entry
        scope.cancel()
        # Put the previous handler back now, not when the task sees the cancel: by then
        # a new receiver for this signal may have installed its own, which would be lost.
        manager.__exit__(None, None, None)
        return True

    # -- tasks --------------------------------------------------------------------

    def spawn_awaitable(
        self,
        awaitable: Awaitable[Any],
        where: Callable[[], str],
        done: Callable[[], Any] | None = None,
    ) -> None:
        self._nursery.start_soon(self._guard, awaitable, where, done)

    def create_future(self) -> Future:
        return _TrioFuture()

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        # A queue drained by one task of the loop: no wake-up socket write per call, as
        # TrioToken.run_sync_soon (made for other threads) would do.
        self._soon.append((callback, args))
        event = self._soon_event
        if event is not None:
            self._soon_event = None
            event.set()

    async def _run_soon(self) -> None:
        soon = self._soon
        while True:
            while soon:
                callback, args = soon.popleft()
                invoke(callback, args, functools.partial(_describe, callback))
            event = self._soon_event = trio.Event()
            if soon:  # queued while the event did not exist yet
                continue
            await event.wait()

    def time(self) -> float:
        return trio.current_time()

    # -- run and stop -------------------------------------------------------------

    def _run_native(self, coro: Coroutine[Any, Any, None]) -> None:
        async def main() -> None:
            await coro

        trio.run(main)

    def _bind(self) -> None:
        self._stopped = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        self._heap.clear()
        self._soon.clear()
        self._soon_event = None

    def _adopt(self) -> None:
        # No block of ours to hold a nursery: the tasks run as trio system tasks, which
        # trio cancels when the run's main task returns.
        self._bind()
        self._nursery = _SystemTasks()  # type: ignore[assignment]
        self._nursery.start_soon(self._run_timers)
        self._nursery.start_soon(self._run_soon)

    def _still_running(self) -> bool:
        try:
            return trio.lowlevel.current_trio_token() is self._token
        except RuntimeError:
            return False

    @contextlib.asynccontextmanager
    async def _open(self) -> AsyncIterator[EventLoop]:
        self._bind()
        # Claim the process before opening the nursery, so a second loop gets the
        # ServerError itself rather than wrapped in an ExceptionGroup.
        async with self._as_current(), trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._run_timers)
            nursery.start_soon(self._run_soon)
            try:
                yield self
            finally:
                nursery.cancel_scope.cancel()

    def open(self) -> contextlib.AbstractAsyncContextManager[EventLoop]:
        return self._open()

    async def _wait_stopped(self) -> None:
        assert self._stopped is not None
        await self._stopped.wait()

    def stop(self) -> None:
        self._stopping = True
        if self._stopped is not None:
            self._stopped.set()

    # -- sockets (private to the core) ---------------------------------------------

    async def serve_stream(
        self,
        sock: socket.socket,
        factory: Callable[[], Any],
        ssl_context: ssl.SSLContext | None,
        backlog: int,
    ) -> _Listener:
        sock.listen(backlog)
        listener = trio.socket.from_stdlib_socket(sock)
        scope = trio.CancelScope()
        nursery = self._nursery

        async def accept_loop() -> None:
            backoff = _BACKOFF_FIRST
            with scope:
                while True:
                    try:
                        conn, _ = await listener.accept()
                    except OSError as exc:
                        if exc.errno in _ACCEPT_ERRNOS:
                            accept_failed(exc)
                            await trio.sleep(backoff)
                            backoff = min(backoff * 2, _BACKOFF_MAX)
                            continue
                        if exc.errno in _ACCEPT_RETRY:
                            continue
                        raise
                    backoff = _BACKOFF_FIRST
                    adopt(conn)

        def adopt(conn: Any, queued: bool = False) -> None:
            if conn.family != socket.AF_UNIX:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            stream: trio.abc.Stream = trio.SocketStream(conn)
            fd = conn.fileno()
            if ssl_context is not None:
                stream = trio.SSLStream(stream, ssl_context, server_side=True)
                fd = -1
            nursery.start_soon(self._serve_connection, stream, fd, factory(), queued)

        nursery.start_soon(accept_loop)
        return _Listener(scope, sock, adopt)

    async def _serve_connection(
        self, stream: trio.abc.Stream, fd: int, protocol: Any, queued: bool = False
    ) -> None:
        try:
            if isinstance(stream, trio.SSLStream):
                shaken = False
                try:
                    with trio.fail_after(_HANDSHAKE_TIMEOUT):
                        await stream.do_handshake()
                    shaken = True
                except (trio.BrokenResourceError, trio.TooSlowError, OSError) as exc:
                    logger.info("TLS handshake with a client failed: %s", exc)
                finally:
                    if not shaken:  # failed, or the loop closed mid-handshake: close the socket
                        with trio.CancelScope(shield=True), contextlib.suppress(Exception):
                            await trio.aclose_forcefully(stream)
                if not shaken:
                    return
        finally:
            if queued:  # taken from a closing listener's queue: made next, with no wait between
                self._adoption_done()
        await StreamTransport(stream, fd, protocol, self._nursery).run()

    def connect_stream(
        self,
        protocol: Any,
        host: str,
        port: int,
        path: str | None,
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None,
        timeout: float,
    ) -> Callable[[], Any]:
        scope = trio.CancelScope()

        async def connect() -> None:
            stream: trio.abc.Stream | None = None
            try:
                with scope:
                    try:
                        with trio.fail_after(timeout):
                            if path is not None:
                                stream = await trio.open_unix_socket(path)
                            else:
                                stream = await trio.open_tcp_stream(host, port)
                            fd = stream.socket.fileno()
                            if ssl_context is not None:
                                stream = trio.SSLStream(
                                    stream, ssl_context, server_hostname=server_hostname or host
                                )
                                fd = -1
                                await stream.do_handshake()
                    except trio.TooSlowError:
                        protocol._connect_failed(
                            TimeoutError(f"connect timed out after {timeout}s")
                        )
                        return
                    except (OSError, trio.BrokenResourceError, ssl.SSLError) as exc:
                        cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else exc
                        protocol._connect_failed(cause or exc)
                        return
                if scope.cancelled_caught:
                    return
                assert stream is not None
                ready: trio.abc.Stream = stream
                stream = None  # the transport owns it from here
            finally:
                if stream is not None:  # failed, cancelled or the loop closed mid-connect
                    with trio.CancelScope(shield=True), contextlib.suppress(Exception):
                        await trio.aclose_forcefully(stream)
            await StreamTransport(ready, fd, protocol, self._nursery).run()

        self._nursery.start_soon(connect)
        return scope.cancel


class _TrioFuture:
    """One result for one waiting task: the task parks until a callback sets it."""

    __slots__ = ("_outcome", "_task")

    def __init__(self) -> None:
        self._outcome: outcome.Outcome[Any] | None = None
        self._task: trio.lowlevel.Task | None = None

    def _set(self, result: outcome.Outcome[Any]) -> None:
        if self._outcome is not None:
            return
        self._outcome = result
        task, self._task = self._task, None
        if task is not None:
            trio.lowlevel.reschedule(task, result)

    def set_result(self, result: Any) -> None:
        self._set(outcome.Value(result))

    def set_exception(self, exception: BaseException) -> None:
        self._set(outcome.Error(exception))

    def done(self) -> bool:
        return self._outcome is not None

    async def _wait(self) -> Any:
        if self._outcome is not None:
            await trio.lowlevel.checkpoint()
            return self._outcome.unwrap()
        self._task = trio.lowlevel.current_task()

        def abort(_raise_cancel: Any) -> trio.lowlevel.Abort:
            self._task = None
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)

    def __await__(self) -> Generator[Any, None, Any]:
        return self._wait().__await__()
