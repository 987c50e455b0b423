"""The asyncio driver (uvloop when asked): timers on call_at, sockets on native transports."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from typing import Any

from ._callbacks import accept_failed
from ._loop import EventLoop, Future, accept_queued, fileno, invoke

logger = logging.getLogger("workerman.core")

_ACCEPT_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_ACCEPT_RETRY = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})
_ACCEPTS_PER_WAKEUP = 128
_BACKOFF_FIRST, _BACKOFF_MAX = 0.01, 1.0


class AsyncioLoop(EventLoop):
    def __init__(self, uvloop: bool = False) -> None:
        super().__init__()
        self.name = "uvloop" if uvloop else "asyncio"
        self._uvloop = uvloop
        if uvloop:
            # Import it now, in the master before it forks: a child that switched to
            # another user (Worker.user) may not be allowed to read it any more.
            import uvloop as _uvloop  # noqa: F401
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._tasks: set[asyncio.Future[Any]] = set()
        self._stopped: asyncio.Future[None] | None = None

    # -- timers -------------------------------------------------------------------

    def _schedule(
        self,
        timer_id: int,
        interval: float,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
        repeat: bool,
    ) -> None:
        loop = self._loop
        if repeat:
            when = loop.time() + interval
            self._timers[timer_id] = loop.call_at(
                when, self._tick, timer_id, when, interval, callback, args
            )
        else:
            self._timers[timer_id] = loop.call_later(interval, self._once, timer_id, callback, args)

    def _once(self, timer_id: int, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        if self._timers.pop(timer_id, None) is not None:
            self._fire(timer_id, callback, args)

    def _tick(
        self,
        timer_id: int,
        when: float,
        interval: float,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> None:
        if timer_id not in self._timers:
            return
        loop = self._loop
        # Drift-free, but never a burst of catch-up calls after a stall.
        when = max(when + interval, loop.time())
        self._timers[timer_id] = loop.call_at(
            when, self._tick, timer_id, when, interval, callback, args
        )
        self._fire(timer_id, callback, args)

    def _cancel_handle(self, handle: Any) -> None:
        handle.cancel()

    # -- readiness and signals ------------------------------------------------------

    def _ready(self, callback: Callable[[Any], Any], fd: Any) -> None:
        invoke(callback, (fd,), lambda: f"fd {fd!r} callback {callback!r}")

    def on_readable(self, fd: Any, callback: Callable[[Any], Any]) -> None:
        self._loop.add_reader(fileno(fd), self._ready, callback, fd)
        self._readers[fileno(fd)] = callback

    def off_readable(self, fd: Any) -> bool:
        if self._readers.pop(fileno(fd), None) is None:
            return False
        self._loop.remove_reader(fileno(fd))
        return True

    def on_writable(self, fd: Any, callback: Callable[[Any], Any]) -> None:
        self._loop.add_writer(fileno(fd), self._ready, callback, fd)
        self._writers[fileno(fd)] = callback

    def off_writable(self, fd: Any) -> bool:
        if self._writers.pop(fileno(fd), None) is None:
            return False
        self._loop.remove_writer(fileno(fd))
        return True

    def on_signal(self, signum: int, callback: Callable[[int], Any]) -> None:
        self._loop.add_signal_handler(signum, self._ready, callback, signum)
        self._signals[signum] = callback

    def off_signal(self, signum: int) -> bool:
        if self._signals.pop(signum, None) is None:
            return False
        return self._loop.remove_signal_handler(signum)

    # -- tasks --------------------------------------------------------------------

    def spawn_awaitable(
        self,
        awaitable: Awaitable[Any],
        where: Callable[[], str],
        done: Callable[[], Any] | None = None,
    ) -> None:
        task = self._loop.create_task(self._guard(awaitable, where, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def create_future(self) -> Future:
        future = self._loop.create_future()
        return _SafeFuture(future)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        self._loop.call_soon(invoke, callback, args, lambda: f"callback {callback!r}")

    def time(self) -> float:
        return self._loop.time()

    # -- run and stop -------------------------------------------------------------

    def _run_native(self, coro: Coroutine[Any, Any, None]) -> None:
        factory: Callable[[], asyncio.AbstractEventLoop] | None = None
        if self._uvloop:
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(coro)

    def _bind(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = self._loop.create_future()

    def _adopt(self) -> None:
        # The loop is someone else's: its exception handler stays theirs, and its end
        # (asyncio.run cancelling what is left) ends our tasks too.
        self._bind()

    def _still_running(self) -> bool:
        return asyncio._get_running_loop() is self._loop

    @contextlib.asynccontextmanager
    async def _open(self) -> AsyncIterator[EventLoop]:
        self._bind()
        previous = self._loop.get_exception_handler()
        self._loop.set_exception_handler(self._exception_handler)
        try:
            async with self._as_current():
                yield self
        finally:
            tasks = [t for t in self._tasks if not t.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.set_exception_handler(previous)

    def open(self) -> contextlib.AbstractAsyncContextManager[EventLoop]:
        return self._open()

    async def _wait_stopped(self) -> None:
        assert self._stopped is not None
        await self._stopped

    def stop(self) -> None:
        self._stopping = True
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    def _exception_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _ACCEPT_ERRNOS and "socket" in context:
            accept_failed(exc)  # asyncio stops accepting for a moment, then retries
            return
        loop.default_exception_handler(context)

    # -- sockets (private to the core) ---------------------------------------------

    async def serve_stream(
        self,
        sock: socket.socket,
        factory: Callable[[], Any],
        ssl_context: ssl.SSLContext | None,
        backlog: int,
    ) -> Any:
        # asyncio accepts up to `backlog` sockets per wakeup and, on EMFILE, keeps trying
        # that many times; a modest figure there, the full one for the kernel's queue.
        if self._uvloop:
            server: Any = _Acceptor(self._loop, sock, factory, ssl_context)
        elif sock.family == socket.AF_UNIX:
            server = await self._loop.create_unix_server(
                factory, sock=sock, ssl=ssl_context, backlog=_ACCEPTS_PER_WAKEUP
            )
        else:
            server = await self._loop.create_server(
                factory, sock=sock, ssl=ssl_context, backlog=_ACCEPTS_PER_WAKEUP
            )
        sock.listen(backlog)
        if not self._uvloop:
            server = _Server(server, _Intake(self._loop, sock, factory, ssl_context))
        return server

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
        loop = self._loop

        async def connect() -> None:
            try:
                async with asyncio.timeout(timeout):
                    if path is not None:
                        await loop.create_unix_connection(
                            lambda: protocol,
                            path,
                            ssl=ssl_context,
                            server_hostname=server_hostname,
                        )
                    else:
                        await loop.create_connection(
                            lambda: protocol,
                            host,
                            port,
                            ssl=ssl_context,
                            server_hostname=server_hostname,
                        )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                protocol._connect_failed(exc)

        task = loop.create_task(connect())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task.cancel


class _Intake:
    """Hands accepted sockets to the loop as connections; and, when the listener closes,
    takes the connections still queued in the kernel first (see ``accept_queued``)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        factory: Callable[[], Any],
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.factory = factory
        self.ssl = ssl_context
        self.tasks: set[asyncio.Task[Any]] = set()

    def adopt(self, conn: socket.socket) -> asyncio.Task[None]:
        conn.setblocking(False)
        task = self.loop.create_task(self.attach(conn))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def adopt_queued(self, conn: socket.socket, loop: EventLoop) -> None:
        self.adopt(conn).add_done_callback(loop._adoption_done)  # made (or failed)

    async def attach(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.factory, conn, ssl=self.ssl)
        except (OSError, ssl.SSLError) as exc:
            logger.info("a connection accepted failed to open: %s", exc)
            conn.close()

    def take_queued(self) -> None:
        """Accept every connection waiting in the kernel's queue (the listener closes next)."""
        accept_queued(self.sock, self.adopt_queued)


class _Server:
    """asyncio's server, closed as _Intake says."""

    def __init__(self, server: asyncio.Server, intake: _Intake) -> None:
        self.server = server
        self.intake = intake

    def close(self) -> None:
        self.intake.take_queued()
        self.server.close()


def _open_failed(exc: Exception) -> None:
    if isinstance(exc, OSError | ssl.SSLError):  # the peer went, a handshake failed
        logger.info("a connection accepted failed to open: %s", exc)
    else:
        logger.error("a connection accepted failed to open", exc_info=exc)


class _Descriptor:
    """What ``loop.connect_accepted_socket`` reads of a socket (family, type, fileno), over
    the one descriptor being attached. uvloop keeps the object it is given for as long as
    the connection lives, only to close it once libuv has closed the descriptor; a
    ``socket.socket`` there costs 88 bytes per connection, this one object per listener
    costs nothing per connection (its ``close`` has nothing left to do)."""

    __slots__ = ("family", "fd", "type")

    def __init__(self, family: int) -> None:
        self.family = family
        self.type = socket.SOCK_STREAM
        self.fd = -1

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        return None  # libuv closed the descriptor with the connection


class _Acceptor(_Intake):
    """The accept loop on uvloop, ours rather than libuv's: libuv, out of descriptors,
    accepts each waiting connection and closes it at once, telling no one. Here EMFILE
    and kin are counted and logged (as asyncio's are) and accepting pauses with a growing
    delay, so waiting clients stay queued in the kernel.

    Per connection it keeps nothing of its own: a descriptor (no socket object) goes to
    ``connect_accepted_socket``, whose coroutine is stepped here rather than as a task: its
    first step, run at once, attaches the descriptor; the next, once the connection is
    made, ends it.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        factory: Callable[[], Any],
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        super().__init__(loop, sock, factory, ssl_context)
        self.backoff = _BACKOFF_FIRST
        self.retry: asyncio.TimerHandle | None = None
        self.fd = sock.fileno()
        self.descriptor = _Descriptor(sock.family)
        loop.add_reader(self.fd, self.accept)

    def accept(self) -> None:
        accept = self.sock._accept  # type: ignore[attr-defined]  # (fd, address): no socket object
        for _ in range(_ACCEPTS_PER_WAKEUP):
            try:
                fd, _ = accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _ACCEPT_ERRNOS:
                    accept_failed(exc)
                    self.loop.remove_reader(self.fd)
                    self.retry = self.loop.call_later(self.backoff, self.resume)
                    self.backoff = min(self.backoff * 2, _BACKOFF_MAX)
                    return
                if exc.errno in _ACCEPT_RETRY:
                    continue
                logger.error("accept() on %s failed: %s", self.sock.getsockname(), exc)
                return
            self.backoff = _BACKOFF_FIRST
            self.attach_fd(fd)

    def adopt_queued(self, conn: socket.socket, loop: EventLoop) -> None:
        self.attach_fd(conn.detach(), loop._adoption_done)

    def attach_fd(self, fd: int, done: Callable[[], Any] | None = None) -> None:
        """Make a connection of the accepted descriptor ``fd`` (libuv makes it
        non-blocking); ``done()`` once it is made or has failed."""
        self.descriptor.fd = fd
        try:
            step = self.loop.connect_accepted_socket(
                self.factory,
                self.descriptor,  # type: ignore[arg-type]  # what uvloop reads of a socket
                ssl=self.ssl,
            )
            waiting = step.send(None)  # attached: the descriptor is libuv's from here on
        except Exception as exc:
            os.close(fd)  # it failed before it took the descriptor
            _open_failed(exc)
            if done is not None:
                done()
            return
        finally:
            self.descriptor.fd = -1
        self._wait(step, waiting, done)

    def _wait(self, step: Any, waiting: Any, done: Callable[[], Any] | None) -> None:
        if isinstance(waiting, asyncio.Future):
            waiting.add_done_callback(lambda _: self._resume(step, done))
        else:  # a bare yield: go on in the next iteration
            self.loop.call_soon(self._resume, step, done)

    def _resume(self, step: Any, done: Callable[[], Any] | None) -> None:
        try:
            waiting = step.send(None)
        except StopIteration:
            pass  # made
        except Exception as exc:  # (uvloop closed the transport, and the descriptor)
            _open_failed(exc)
        else:
            self._wait(step, waiting, done)
            return
        if done is not None:
            done()

    def resume(self) -> None:
        self.retry = None
        if self.fd >= 0:
            self.loop.add_reader(self.fd, self.accept)

    def close(self) -> None:
        if self.fd >= 0:
            self.take_queued()
            self.loop.remove_reader(self.fd)
            self.fd = -1
        if self.retry is not None:
            self.retry.cancel()
            self.retry = None


class _SafeFuture:
    """An asyncio.Future whose setters ignore a future already done (cancelled by its
    awaiter's timeout), so a late reply never raises in a protocol callback."""

    __slots__ = ("_future",)

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self._future = future

    def set_result(self, result: Any) -> None:
        if not self._future.done():
            self._future.set_result(result)

    def set_exception(self, exception: BaseException) -> None:
        if not self._future.done():
            self._future.set_exception(exception)

    def done(self) -> bool:
        return self._future.done()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._future.__await__()
