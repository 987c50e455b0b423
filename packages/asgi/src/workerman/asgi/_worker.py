"""AsgiWorker: a Worker whose requests and WebSockets go to an ASGI app."""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections.abc import Callable, Iterable
from typing import Any, Final, cast

from mypy_extensions import mypyc_attr

from workerman.core import Future, TcpConnection, Worker, current_loop, register_status
from workerman.core.http import Http

from ._app import load_app
from ._eager import Call, carry, eager_caller
from ._exceptions import AsgiError, LifespanError
from ._http import HttpCycle
from ._lifespan import Lifespan
from ._protocol import watching
from ._scope import Heads, Trusted
from ._websocket import WebSocketCycle

__all__ = ["AsgiWorker"]

logger: Final = logging.getLogger("workerman.asgi")

_WS_EXTENSIONS: Final[dict[str, Any]] = {"websocket.http.response": {}}
_LIFESPAN_MODES: Final = ("auto", "on", "off")
#: a worker process whose lifespan startup failed exits with this status
EXIT_STARTUP_FAILED: Final = 3

Cycle = HttpCycle | WebSocketCycle


@mypyc_attr(allow_interpreted_subclasses=True)  # compiled, it still takes Python subclasses
class AsgiWorker(Worker):
    """A worker that serves an ASGI 3 app (FastAPI, Starlette, Litestar ...) over HTTP/1.1
    and WebSocket, in each of its ``count`` processes.

    ``AsgiWorker("main:app", "http://0.0.0.0:8000", count=4)`` and ``Worker.run_all()``
    give the app Workerman's processes and command line. An import string is imported in
    each worker process when it starts (so ``reload`` picks up new code); the app's
    lifespan startup runs there before its first request, and shutdown after its last.

    Args:
        app: an ASGI callable, or ``"module:attribute"``.
        socket_name: ``http://host:port`` (``https://`` needs ``ssl``), or ``unix://path``.
        name: shown by ``status`` and in logs.
        count: worker processes.
        ssl: a server ``ssl.SSLContext`` for HTTPS (and wss).
        reuse_port: each process binds its own socket (SO_REUSEPORT).
        root_path: the ASGI ``root_path`` (the app is mounted below this prefix).
        lifespan: ``"auto"`` (run it; an app that raises at once has none), ``"on"``
            (its failure is fatal), ``"off"``.
        access_log: log one line per request (logger ``workerman.asgi.access``).
        proxy_headers: believe ``X-Forwarded-For`` and ``X-Forwarded-Proto`` from
            ``forwarded_allow_ips``.
        forwarded_allow_ips: trusted proxy addresses or networks, comma-separated or a
            list; ``"*"`` trusts any.
        body_chunk_size: the largest piece of request body one ``http.request`` carries.
        ws_max_queue: WebSocket messages the app has not received yet before the
            connection stops reading.
        shutdown_timeout: seconds a stopping process waits for running requests before
            lifespan shutdown.
        protocol: the HTTP protocol class (an ``Http`` subclass with other settings).
    """

    def __init__(
        self,
        app: Any,
        socket_name: str = "http://127.0.0.1:8000",
        *,
        name: str = "asgi",
        count: int = 1,
        ssl: ssl_module.SSLContext | None = None,
        reuse_port: bool = False,
        root_path: str = "",
        lifespan: str = "auto",
        access_log: bool = False,
        proxy_headers: bool = True,
        forwarded_allow_ips: str | Iterable[str] = "127.0.0.1",
        body_chunk_size: int = 64 * 1024,
        ws_max_queue: int = 32,
        shutdown_timeout: float = 30.0,
        protocol: Any = None,
    ) -> None:
        scheme, sep, rest = socket_name.partition("://")
        if sep and scheme == "https":
            if ssl is None:
                raise AsgiError(f"{socket_name}: https:// needs ssl=ssl.SSLContext")
            socket_name = "http://" + rest
        elif sep and scheme == "unix":
            pass
        elif sep and scheme != "http":
            raise AsgiError(f"{socket_name}: an ASGI worker listens on http://, https://, unix://")
        if lifespan not in _LIFESPAN_MODES:
            raise AsgiError(f"lifespan must be one of {_LIFESPAN_MODES}, not {lifespan!r}")
        if body_chunk_size < 1 or ws_max_queue < 1:
            raise AsgiError("body_chunk_size and ws_max_queue must be at least 1")
        if protocol is not None and not (isinstance(protocol, type) and issubclass(protocol, Http)):
            raise AsgiError(f"protocol must be Http or a subclass of it, not {protocol!r}")
        super().__init__(
            socket_name,
            name=name,
            count=count,
            ssl=ssl,
            reuse_port=reuse_port,
            protocol=cast(Any, watching(protocol or Http)),
        )
        self.app = app
        self.root_path = root_path.rstrip("/")
        self.lifespan = lifespan
        self.access_log = access_log
        self.trusted = Trusted(forwarded_allow_ips) if proxy_headers else Trusted(())
        self.body_chunk_size = body_chunk_size
        self.ws_max_queue = ws_max_queue
        self.shutdown_timeout = shutdown_timeout
        #: seconds a stopping process waits for the request of a just-accepted connection
        self.first_request_grace = 1.0
        self.on_worker_start = self._started
        self.on_worker_stop = self._stopping
        self.on_message = self._request
        self.on_close = self._closed
        self.on_buffer_drain = self._drained
        self._callable: Any = None
        self._lifespan: Lifespan | None = None
        self._state: dict[str, Any] = {}
        self._secure = ssl is not None
        self._heads = Heads(self.root_path, self._secure)
        self._heads_known = self._heads.cache.known
        self._cycles: dict[int, Cycle] = {}  # connection id -> the request in progress
        self._peers: dict[int, tuple[tuple[str, int], tuple[str, int] | None]] = {}
        self._inflight = 0  # app calls not yet returned
        self._websockets = 0
        self._ready = False
        self._waiting: list[Future] = []  # requests waiting for startup, stops for idleness
        self._tasks: set[Any] = set()
        self._call_app: Call = self._call_on_facade
        self._unregister: Callable[[], None] | None = None

    # -- the worker's life ---------------------------------------------------------------

    async def _started(self, worker: Worker) -> None:
        self._choose_spawn()
        self._heads = Heads(self.root_path, self._secure)  # as set by now
        self._heads_known = self._heads.cache.known
        self._unregister = register_status("asgi", self._status)
        try:
            app = self._callable = load_app(self.app)
            if self.lifespan != "off":
                self._lifespan = Lifespan(app, self.lifespan)
                await self._lifespan.startup()
                self._state = self._lifespan.state
        except Exception as exc:  # no app to serve: end the process, saying why
            if isinstance(exc, AsgiError):
                logger.error("worker %r: %s", self.name, exc)
            else:
                logger.error("worker %r cannot load its app %r", self.name, self.app, exc_info=exc)
            raise SystemExit(EXIT_STARTUP_FAILED) from exc
        self._ready = True
        self._wake_all()

    async def _stopping(self, worker: Worker) -> None:
        # a connection accepted just before the stop whose request is still on its way is
        # not idle: closing it now would reset a client that did nothing wrong
        loop = current_loop()
        deadline = loop.time() + self.first_request_grace
        while loop.time() < deadline and any(map(self._arriving, self.connections.values())):
            waiter = loop.create_future()
            loop.delay(0.01, waiter.set_result, None)
            await waiter
        for connection in list(self.connections.values()):
            cycle = self._cycles.get(connection.id)
            if isinstance(cycle, WebSocketCycle) and cycle.stage == 1:
                connection.websocket.close(1012, "")  # service restart
            elif (state := connection.protocol_state) is not None:
                state.draining()
        if self._inflight:
            waiter = current_loop().create_future()
            self._waiting.append(waiter)
            timer = current_loop().delay(self.shutdown_timeout, self._wake_all)
            await waiter
            current_loop().cancel(timer)
        if self._unregister is not None:
            self._unregister()
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            try:
                await lifespan.shutdown()
            except LifespanError as exc:
                logger.error("worker %r: %s", self.name, exc)

    def _arriving(self, conn: TcpConnection) -> bool:
        """A request is on its way: nothing read yet, or part of one (the HTTP exchange
        holds it)."""
        if conn.id in self._cycles:
            return False
        state = conn.protocol_state
        if isinstance(state, Http):
            return conn.bytes_read == 0 or state.busy_arriving()
        return conn.bytes_read == 0 or conn.recv_buffer_size > 0

    def _choose_spawn(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # trio: a task per request, through the facade
            return
        self._call_app = eager_caller(loop, self._tasks, self._ended)

    def _call_on_facade(self, app: Any, scope: dict[str, Any], cycle: Cycle) -> None:
        current_loop().spawn_awaitable(
            carry(app, scope, cycle, self._ended), lambda: f"ASGI app of worker {self.name!r}"
        )

    def _wake_all(self) -> None:
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            if not waiter.done():
                waiter.set_result(None)

    def _status(self) -> dict[str, Any]:
        return {"running": self._inflight, "websockets": self._websockets}

    # -- connections -------------------------------------------------------------------

    def _request(self, conn: TcpConnection, request: Any) -> None:
        known = self._heads_known.get(request.raw_head)
        if known is None:
            known = self._heads.learn(request)
        part, pairs, upgrade, forwarded = known
        scope = part.copy()
        headers = scope["headers"] = pairs.copy()
        key = conn.id
        peers = self._peers.get(key)
        if peers is None:
            peers = self._peers[key] = self._peers_of(conn)
        scope["server"] = peers[1]
        scope["client"] = client = peers[0]
        scope["state"] = self._state.copy()
        secure = self._secure
        if forwarded and client[0] in self.trusted:
            for name, value in headers:
                if name == b"x-forwarded-for":
                    scope["client"] = (self.trusted.client(value.decode("latin-1")), 0)
                elif name == b"x-forwarded-proto":
                    secure = value.decode("latin-1").strip().lower() in ("https", "wss")
                    scope["scheme"] = "https" if secure else "http"
        cycle: Cycle
        if upgrade:
            scope["type"] = "websocket"
            scope["scheme"] = "wss" if secure else "ws"
            scope["subprotocols"] = [
                token.strip().decode("latin-1")
                for name, value in headers
                if name == b"sec-websocket-protocol"
                for token in value.split(b",")
                if token.strip()
            ]
            scope["extensions"] = _WS_EXTENSIONS
            del scope["method"]
            cycle = WebSocketCycle(self, conn, request)
            self._websockets += 1
        else:
            cycle = HttpCycle(self, conn, request)
        self._cycles[key] = cycle
        self._inflight += 1
        self._call_app(self._callable if self._ready else self._after_startup, scope, cycle)

    @staticmethod
    def _peers_of(conn: TcpConnection) -> tuple[tuple[str, int], tuple[str, int] | None]:
        if conn.transport == "unix":
            return ("", 0), None
        return (conn.remote_ip, conn.remote_port), (conn.local_ip, conn.local_port)

    async def _after_startup(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The app, called once the lifespan startup is over (a request that came first)."""
        if not self._ready:
            waiter = current_loop().create_future()
            self._waiting.append(waiter)
            await waiter
        await self._callable(scope, receive, send)

    def _ended(self, cycle: Cycle, exc: BaseException | None) -> None:
        """The app call of ``cycle`` returned (``exc`` None) or raised ``exc``."""
        if exc is None:
            if not cycle.finished:
                cycle.returned()
        elif isinstance(exc, Exception):
            cycle.failed(exc)
        self._inflight -= 1
        if not self._inflight and self._waiting and self._ready:
            self._wake_all()

    def cycle_done(self, cycle: Cycle) -> None:
        """``cycle``'s exchange is over: it no longer hears of its connection."""
        key = cycle.conn.id
        if self._cycles.get(key) is cycle:
            del self._cycles[key]
            if type(cycle) is WebSocketCycle:
                self._websockets -= 1

    def _closed(self, conn: TcpConnection) -> None:
        self._peers.pop(conn.id, None)
        cycle = self._cycles.get(conn.id)
        if cycle is not None:
            self.cycle_done(cycle)
            cycle.lost()

    def peer_finished(self, conn: TcpConnection) -> None:
        """The client ended its side mid-request: a waiting ``receive`` hears of it."""
        cycle = self._cycles.get(conn.id)
        if type(cycle) is HttpCycle:
            cycle.peer_finished()

    def _drained(self, conn: TcpConnection) -> None:
        cycle = self._cycles.get(conn.id)
        if cycle is not None:
            cycle.drained()
