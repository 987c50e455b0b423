"""Worker: listens on one address and hands each connection's messages to callbacks."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import ssl as ssl_module
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, ClassVar

import anyio

from ._address import Address, parse_address
from ._bind import bind_socket, close_quietly
from ._callbacks import report
from ._connection import TcpConnection, _FromWorker, live_connections
from ._exceptions import ServerError
from ._loop import create_loop, current_loop, current_loop_or_none, running_driver
from ._udp import UdpServer
from .protocols import Codec
from .protocols._registry import _check_codec, get_protocol

__all__ = ["Worker", "serve", "takes_command_line"]

logger = logging.getLogger("workerman.core")

Callback = Callable[..., Any] | None


# The command line sits above workers (it runs supervisors of them); it hands itself
# down here when it is imported, so Worker.run_all() needs no import pointing up.
_command_line: list[Callable[[type[Worker], Sequence[str]], None]] = []


def takes_command_line(main: Callable[[type[Worker], Sequence[str]], None]) -> None:
    """What ``Worker.run_all()`` runs: the command line's ``main(worker_class, argv)``."""
    _command_line[:] = [main]


class Worker:
    """A named server: an address to listen on (or none, for a process of timers) and
    the callbacks that handle its connections.

    ``Worker("text://0.0.0.0:9000", name="echo")`` listens for newline-delimited text;
    the scheme is a transport (``tcp``, ``udp``, ``unix``, ``ssl``) or a registered
    protocol (``text``, ``frame``, ...), which then runs over tcp unless ``transport``
    says otherwise. Callbacks may be plain or async functions; a plain one runs inline,
    an async one runs as a task while later messages of the same connection wait.

    Args:
        socket_name: the listen address; empty for a worker that listens on nothing.
        name: shown in logs and by ``status``.
        count: processes to run (the supervisor forks them; in one process it is 1).
        ssl: an ``ssl.SSLContext`` (server side) for TLS over any TCP address.
        reuse_port: set SO_REUSEPORT so each process binds its own socket.
        backlog: the listen queue length (the kernel caps it at somaxconn).
        transport: override the transport the scheme implies.
        protocol: a codec or registered protocol name, over the scheme's.
    """

    #: event loop driver: "asyncio", "uvloop", "trio", or None (uvloop if installed).
    event_loop: ClassVar[str | None] = None
    #: seconds a stopping process gets to flush and close before it is killed.
    stop_timeout: ClassVar[float] = 2.0
    #: seconds a graceful stop or reload lets open connections finish; then what is
    #: left is closed (and ``stop_timeout`` later, a process still there is killed).
    graceful_stop_timeout: ClassVar[float] = 30.0
    #: seconds a process started by a reload has to start serving (listen and return
    #: from ``on_worker_start``) before the reload is reported failed.
    start_timeout: ClassVar[float] = 30.0
    #: run as a daemon (``start -d`` sets it).
    daemonize: ClassVar[bool] = False
    #: where the master's pid is kept (default: the temp dir, named after the start file).
    pid_file: ClassVar[str] = ""
    #: the log file, capped at ``log_file_max_size`` with one older file kept.
    log_file: ClassVar[str] = ""
    log_file_max_size: ClassVar[int] = 10 * 1024 * 1024
    #: where a daemon's stdout and stderr go.
    stdout_file: ClassVar[str] = "/dev/null"
    #: where processes leave their snapshots for ``status`` (default: the temp dir).
    status_file: ClassVar[str] = ""
    #: called in the master when a reload begins: ``on_master_reload()``.
    on_master_reload: ClassVar[Callback] = None
    #: called in the master after every process has exited: ``on_master_stop()``.
    on_master_stop: ClassVar[Callback] = None
    #: called in the master when a worker process exits: ``(worker, exit_code, pid)``.
    on_worker_exit: ClassVar[Callback] = None
    #: every worker created in this process, in order.
    workers: ClassVar[list[Worker]] = []
    _running: ClassVar[list[Worker] | None] = None

    def __init__(
        self,
        socket_name: str = "",
        *,
        name: str = "none",
        count: int = 1,
        ssl: ssl_module.SSLContext | None = None,
        reuse_port: bool = False,
        backlog: int = 102400,
        transport: str | None = None,
        protocol: Codec | str | None = None,
    ) -> None:
        self.socket_name = socket_name
        self.name = name
        self.count = count
        self.ssl = ssl
        self.reuse_port = reuse_port
        self.backlog = backlog
        #: process index of this worker, 0..count-1
        self.id = 0
        #: in a process started as root, run this worker's processes as this user (and group)
        self.user = ""
        self.group = ""
        #: False: a reload only calls ``on_worker_reload``; the process keeps running
        self.reloadable = True
        self._bound_pid = 0
        #: open connections of this worker in this process, by id
        self.connections: dict[int, TcpConnection] = {}
        self.on_worker_start: Callback = None
        self.on_worker_stop: Callback = None
        self.on_connect: Callback = None
        self.on_message: Callback = None
        self.on_close: Callback = None
        self.on_error: Callback = None
        self.on_buffer_full: Callback = None
        self.on_buffer_drain: Callback = None
        self.on_worker_reload: Callback = None
        #: websocket:// workers: ``(connection, request)`` once the upgrade request is in;
        #: close the connection (or raise http.RequestError) to refuse it
        self.on_websocket_connect: Callback = None
        #: ``(connection, payload)`` for each Ping (already answered) and Pong
        self.on_websocket_ping: Callback = None
        self.on_websocket_pong: Callback = None
        #: ``(connection, code, reason)`` when the client sends a Close frame
        self.on_websocket_close: Callback = None
        self._transport = transport
        #: what its connections share of it (callbacks but on_message) while it stays as it is
        self._shared_with_connections: _FromWorker | None = None
        self._codec: Codec | None = None
        self._socket: socket.socket | None = None
        self._server: Any = None
        self._sockname: Any = None
        if socket_name:
            self._codec = parse_address(socket_name, transport).protocol
        if protocol is not None:
            self.protocol = protocol
        Worker.workers.append(self)

    # -- settings ------------------------------------------------------------------

    @property
    def protocol(self) -> Codec | None:
        """The codec of this worker's connections (None: raw bytes)."""
        return self._codec

    @protocol.setter
    def protocol(self, value: Codec | str | None) -> None:
        if isinstance(value, str):
            value = get_protocol(value)
        self._codec = None if value is None else _check_codec(repr(value), value)

    @property
    def transport(self) -> str:
        """'tcp', 'udp', 'unix' or 'ssl'; settable before the worker listens."""
        if not self.socket_name:
            return self._transport or "tcp"
        chosen = self._address().transport
        return "ssl" if chosen == "tcp" and (self.ssl or self._address().tls) else chosen

    @transport.setter
    def transport(self, value: str) -> None:
        parse_address(self.socket_name or "tcp://0:0", value)
        self._transport = value

    def _address(self) -> Address:
        return parse_address(self.socket_name, self._transport)

    @property
    def listening(self) -> Any:
        """The bound address once listening: (host, port) or a Unix path; else None."""
        return self._sockname

    def __repr__(self) -> str:
        return f"<Worker {self.name!r} {self.socket_name or '(no address)'}>"

    # -- life cycle ------------------------------------------------------------------

    def bind(self) -> None:
        """Bind the listening socket now (before the loop runs, so a port in use fails
        early). Called for you when the worker starts.

        Raises:
            AddressInUseError: the address is taken.
            ServerError: a bad address or a setting that does not fit it.
        """
        if not self.socket_name or self._socket is not None:
            return
        address = self._address()
        if address.tls and self.ssl is None:
            raise ServerError(f"{address}: ssl:// needs Worker(..., ssl=ssl.SSLContext)")
        if self.ssl is not None and address.transport == "udp":
            raise ServerError(f"{address}: TLS is for stream transports, not udp")
        self._socket = bind_socket(address, self.reuse_port, self.backlog)
        self._sockname = self._socket.getsockname()
        self._bound_pid = os.getpid()

    async def _listen(self) -> None:
        if not self.socket_name:
            return
        self.bind()
        sock = self._socket
        assert sock is not None
        loop = current_loop()
        if sock.type == socket.SOCK_DGRAM:
            self._server = UdpServer(self, sock)
        else:
            factory = functools.partial(TcpConnection, self)
            self._server = await loop.serve_stream(  # type: ignore[attr-defined]
                sock, factory, self.ssl, self.backlog
            )

    def unlisten(self) -> None:
        """Stop accepting; open connections stay."""
        server, self._server = self._server, None
        sock, self._socket = self._socket, None
        if server is not None:
            server.close()
        if sock is not None:
            close_quietly(sock)
        if isinstance(self._sockname, str) and self._bound_pid == os.getpid():
            with contextlib.suppress(OSError):  # the process that bound it removes it
                os.unlink(self._sockname)

    def serving(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Run this worker in the current asyncio or trio loop for an ``async with``
        block, which gets the bound address; see :func:`workerman.core.serve`."""
        return serve(self)

    def _close_inherited(self) -> None:
        """In a forked process: drop the listening socket the master bound for another
        process (or for a check), without touching the address it names."""
        sock, self._socket = self._socket, None
        if sock is not None:
            close_quietly(sock)

    async def _start(self, strict: bool = False) -> None:
        """Listen, then run ``on_worker_start`` (awaited when it is async); what it
        raises is logged, and raised again when ``strict``."""
        await self._listen()
        await self._run_callback(self.on_worker_start, "on_worker_start", strict)

    async def _stop(self, graceful: bool = False) -> None:
        """Stop accepting and run ``on_worker_stop``; unless ``graceful``, close this
        worker's connections (a graceful stop lets them finish)."""
        self.unlisten()
        await self._run_callback(self.on_worker_stop, "on_worker_stop")
        if not graceful:
            for connection in list(self.connections.values()):
                connection.close()

    async def _run_callback(self, callback: Callback, what: str, strict: bool = False) -> None:
        if callback is None:
            return
        try:
            result = callback(self)
            if result is not None and hasattr(result, "__await__"):
                await result
        except Exception as exc:
            report(f"{what} of worker {self.name!r}", exc)
            if strict:
                raise

    # -- running every worker ----------------------------------------------------------

    @classmethod
    def run_all(cls, argv: Sequence[str] | None = None) -> None:
        """Run every worker, driven by the command line (``python app.py <command>``):
        ``start [-d]``, ``stop [-g]``, ``restart [-d] [-g]``, ``reload [-g]``,
        ``status [-d]``, ``connections``.

        A master process forks ``count`` processes per worker and supervises them;
        see the package README for each command, its signals and exit codes.
        """
        if not _command_line:
            raise ServerError("the command line is not loaded: import workerman.core")
        _command_line[0](cls, sys.argv[1:] if argv is None else argv)

    @classmethod
    def stop_all(cls, graceful: bool = False) -> None:
        """Stop the workers of this process: close listeners, then close connections
        (or, when ``graceful``, wait for them to finish), then stop the loop."""
        loop = current_loop_or_none()
        if loop is None:
            return
        if loop._stopping and not graceful:
            loop._draining = False  # a plain stop during a graceful one cuts it short
            return
        if loop._stopping:
            return
        loop._stopping = True
        loop._draining = graceful
        loop.spawn(cls._stop_all, loop, graceful)

    @classmethod
    async def _stop_all(cls, loop: Any, graceful: bool) -> None:
        running = cls._running if cls._running is not None else cls.workers
        for worker in running:
            await worker._stop(graceful)
        # the connections the listeners took from their queues as they closed (accept_queued)
        with anyio.move_on_after(cls.stop_timeout):
            while loop._adopting > 0:
                await anyio.sleep(0.005)
        if graceful:
            for connection in live_connections().values():
                state = connection.protocol_state
                if state is not None:  # a stream protocol may end what it can end now
                    state.draining()
            # Accepted connections, that is: a client connection of ours (to Redis, say)
            # stays open until the end, and closes with the rest.
            with anyio.move_on_after(cls.graceful_stop_timeout) as waited:
                while loop._draining and _accepted():
                    await anyio.sleep(0.05)
            if waited.cancelled_caught and (left := _accepted()):
                logger.warning(
                    "%d connections still open after graceful_stop_timeout (%gs); closing them",
                    len(left),
                    cls.graceful_stop_timeout,
                )
        await close_and_wait(lambda: list(live_connections().values()), cls.stop_timeout)
        loop.stop()


def _accepted() -> list[TcpConnection]:
    return [c for c in live_connections().values() if c.worker is not None]


async def close_and_wait(pick: Callable[[], list[TcpConnection]], timeout: float) -> None:
    """Close the connections ``pick()`` names (flushing what they queued), wait up to
    ``timeout`` seconds for them to go, then drop whatever is left."""
    for connection in pick():
        connection.close()
    with anyio.move_on_after(timeout):
        while pick():
            await anyio.sleep(0.01)
    for connection in pick():
        connection.destroy()
    await anyio.sleep(0)  # let the transports report the last closes


# -- serving workers inside an event loop the caller already runs -------------------


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
