"""The connection pool: idle connections per origin kept for reuse, limits per origin and
in total, and the callers waiting for a connection served first come, first served.

A released connection goes to the oldest waiter for its origin, else it is kept idle
(most recently used first, so a quiet period lets the others expire). A waiter for an
origin with no idle connection gets a new one when both limits allow; when only the total
limit stands in the way, an idle connection of another origin is closed to make room.
"""

from __future__ import annotations

import ssl as ssl_module
from collections import deque
from collections.abc import Callable
from typing import Any

from workerman.core import EventLoop, Future

from ._connection import IDLE, HttpConnection
from ._exceptions import PoolTimeout
from ._proxy import Tunnel
from ._settings import Limits

__all__ = ["Pool", "PoolKey", "Target"]

# (scheme, host, port, proxy): connections of one key are interchangeable
PoolKey = tuple[str, str, int, str]


class Target:
    """Where the connections of one key go: the address dialled, the TLS to use, and
    through a proxy, the tunnel to open (and TLS inside it) or the absolute-form
    request line with the proxy's credentials."""

    __slots__ = (
        "absolute_form",
        "head_extra",
        "host",
        "layered_tls",
        "port",
        "server_hostname",
        "ssl_context",
        "tunnel",
    )

    def __init__(
        self,
        host: str,
        port: int,
        ssl_context: ssl_module.SSLContext | None,
        server_hostname: str | None,
        tunnel: Callable[[], Tunnel] | None = None,
        layered_tls: tuple[ssl_module.SSLContext, str] | None = None,
        absolute_form: bool = False,
        head_extra: str = "",
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.tunnel = tunnel
        self.layered_tls = layered_tls
        self.absolute_form = absolute_form
        self.head_extra = head_extra


class Waiter:
    """A caller waiting for a connection of ``key``."""

    __slots__ = (
        "cancelled",
        "conn",
        "connect_timeout",
        "future",
        "key",
        "loop",
        "target",
        "timer",
    )

    def __init__(
        self, loop: EventLoop, key: PoolKey, target: Target, connect_timeout: float | None
    ) -> None:
        self.loop = loop
        self.key = key
        self.target = target
        self.connect_timeout = connect_timeout
        self.future: Future = loop.create_future()
        self.timer = 0
        self.cancelled = False  # its caller went away
        self.conn: HttpConnection | None = None

    def abort(self, error: BaseException) -> None:
        if self.timer:
            self.loop.cancel(self.timer)
            self.timer = 0
        self.future.set_exception(error)


class Pool:
    """Connections by key, within ``limits``."""

    def __init__(self, limits: Limits, loop: EventLoop) -> None:
        self.limits = limits
        self.loop = loop  # the pool's connections live on this loop, and end with it
        self._idle: dict[PoolKey, list[HttpConnection]] = {}
        self._open: dict[PoolKey, int] = {}  # connecting, idle or busy
        self._total = 0
        self._waiters: deque[Waiter] = deque()
        self._sweeper = 0
        self._serving = False
        self._again = False
        self.closed = False

    def acquire(
        self,
        key: PoolKey,
        target: Target,
        connect_timeout: float | None,
        pool_timeout: float | None,
    ) -> HttpConnection | Waiter:
        """An idle connection, a new one (maybe still connecting), or a Waiter to await."""
        if not self._waiters:
            conn = self._take_idle(key)
            if conn is not None:
                return conn
            if self._can_open(key):
                return self._new(key, target, connect_timeout)
        waiter = Waiter(self.loop, key, target, connect_timeout)
        if pool_timeout is not None:
            waiter.timer = self.loop.delay(pool_timeout, self._late, waiter, pool_timeout)
        self._waiters.append(waiter)
        self._serve_waiters()
        return waiter

    def _late(self, waiter: Waiter, seconds: float) -> None:
        waiter.timer = 0
        try:
            self._waiters.remove(waiter)
        except ValueError:
            return
        waiter.future.set_exception(PoolTimeout(f"no connection came free within {seconds}s"))

    def _take_idle(self, key: PoolKey) -> HttpConnection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = self.loop.time()
        expiry = self.limits.keepalive_expiry
        while idle:
            conn = idle.pop()
            if conn.state == IDLE and now - conn.idle_since <= expiry:
                return conn  # (a connection the server closed is CLOSED, and gone from here)
            conn.close()  # expired or gone: closing frees its slot
        return None

    def _can_open(self, key: PoolKey) -> bool:
        limits = self.limits
        return (
            self._total < limits.max_connections
            and self._open.get(key, 0) < limits.max_connections_per_host
        )

    def _new(self, key: PoolKey, target: Target, connect_timeout: float | None) -> HttpConnection:
        self._total += 1
        self._open[key] = self._open.get(key, 0) + 1
        return HttpConnection(
            self,
            key,
            target.host,
            target.port,
            target.ssl_context,
            target.server_hostname,
            self.limits,
            connect_timeout,
            target.tunnel,
            target.layered_tls,
        )

    def release(self, conn: HttpConnection, keep: bool, now: float = 0.0) -> None:
        """An exchange on ``conn`` is complete (at ``now``, the loop's time, if known);
        keep the connection if it may be reused."""
        if not keep or self.closed or conn.state != IDLE:
            conn.close()
            return
        conn.idle_since = now or self.loop.time()
        self._idle.setdefault(conn.key, []).append(conn)
        if self._waiters:
            self._serve_waiters()
        if not self._sweeper:
            self._sweeper = self.loop.delay(self.limits.keepalive_expiry, self._sweep)

    def discard(self, conn: HttpConnection) -> None:
        """``conn`` is closed: forget it and let a waiter have its slot."""
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)
        count = self._open.get(conn.key, 0)
        if count <= 0:
            return
        self._total -= 1
        if count == 1:
            del self._open[conn.key]
            self._idle.pop(conn.key, None)
        else:
            self._open[conn.key] = count - 1
        if self._waiters:
            self._serve_waiters()

    def _serve_waiters(self) -> None:
        if self._serving:  # closing a connection below comes back here
            self._again = True
            return
        self._serving = True
        try:
            self._again = True
            while self._again and self._waiters:
                self._again = False
                self._serve_once()
        finally:
            self._serving = False

    def _serve_once(self) -> None:
        waiters = self._waiters
        for waiter in list(waiters):
            if waiter.future.done() or waiter.cancelled:
                waiters.remove(waiter)
                continue
            conn = self._take_idle(waiter.key)
            if conn is None:
                if not self._can_open(waiter.key) and not self._make_room(waiter.key):
                    continue
                if not self._can_open(waiter.key):
                    continue
                conn = self._new(waiter.key, waiter.target, waiter.connect_timeout)
            waiters.remove(waiter)
            if waiter.timer:
                self.loop.cancel(waiter.timer)
                waiter.timer = 0
            waiter.conn = conn
            waiter.future.set_result(conn)

    def _make_room(self, key: PoolKey) -> bool:
        """Close an idle connection of another key when the total limit is what blocks."""
        if self._open.get(key, 0) >= self.limits.max_connections_per_host:
            return False
        for other, idle in self._idle.items():
            if other != key and idle:
                idle[0].close()
                return True
        return False

    def _sweep(self) -> None:
        self._sweeper = 0
        now = self.loop.time()
        expiry = self.limits.keepalive_expiry
        remaining = False
        for idle in list(self._idle.values()):
            for conn in list(idle):
                if now - conn.idle_since > expiry:
                    conn.close()
                else:
                    remaining = True
        if remaining and not self.closed:
            self._sweeper = self.loop.delay(expiry, self._sweep)

    def close(self) -> None:
        """Close idle connections now; busy ones close when their exchange ends."""
        self.closed = True
        if self._sweeper:
            self.loop.cancel(self._sweeper)
            self._sweeper = 0
        for idle in list(self._idle.values()):
            for conn in list(idle):
                conn.close()
        for waiter in list(self._waiters):
            waiter.abort(PoolTimeout("the client was closed"))
        self._waiters.clear()

    def stats(self) -> dict[str, dict[str, int]]:
        """Per key ("scheme://host:port"): idle, in_use and waiting counts."""
        report: dict[str, dict[str, int]] = {}
        keys: set[Any] = set(self._open) | {w.key for w in self._waiters}
        for key in keys:
            idle = len(self._idle.get(key, ()))
            name = f"{key[0]}://{key[1]}:{key[2]}" + (f" via {key[3]}" if key[3] else "")
            report[name] = {
                "idle": idle,
                "in_use": self._open.get(key, 0) - idle,
                "waiting": sum(1 for w in self._waiters if w.key == key and not w.future.done()),
            }
        return report
