"""The Redis client: one pipelined connection shared by every caller, a few dedicated
ones for blocking commands, and the factories for pipelines and pub/sub."""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ._commands import Commands
from ._connection import Options, Pending, RedisConnection
from ._exceptions import RedisConnectionError, RedisError
from ._url import ServerAddress, parse_url

__all__ = ["Redis"]

# Commands that may wait on the server: each gets a connection of its own for its
# duration, so it never holds up the commands of other callers.
_BLOCKING = frozenset(
    {
        b"BLPOP",
        b"BRPOP",
        b"BLMOVE",
        b"BRPOPLPUSH",
        b"BLMPOP",
        b"BZPOPMIN",
        b"BZPOPMAX",
        b"BZMPOP",
        b"WAIT",
        b"WAITAOF",
    }
)


def _name(arg: Any) -> bytes:
    return (arg.encode() if isinstance(arg, str) else bytes(arg)).upper()


_kinds: dict[Any, int] = {}  # command name as given -> 0 plain, 1 blocking, 2 XREAD-like


def is_blocking(args: tuple[Any, ...]) -> bool:
    command = args[0]
    kind = _kinds.get(command) if isinstance(command, str | bytes) else None
    if kind is None:
        name = _name(command)
        kind = 1 if name in _BLOCKING else 2 if name in (b"XREAD", b"XREADGROUP") else 0
        if isinstance(command, str | bytes) and len(_kinds) < 4096:
            _kinds[command] = kind
    if kind == 2:
        return any(isinstance(a, str | bytes) and _name(a) == b"BLOCK" for a in args[1:])
    return kind == 1


class Redis(Commands):
    """An async Redis client on the workerman loop, usable from any worker callback.

    Every command is a method (``await redis.get("k")``) or ``execute(*args)``; each
    also takes ``callback=fn`` (``fn(result, error)``, Workerman's style) and then
    returns None. Concurrent callers share one connection: their commands are
    pipelined onto it and their replies matched in order. Blocking commands (BLPOP,
    XREAD BLOCK ...) run on connections of their own. The connection opens on the
    first command and reopens after a loss, with a capped, jittered backoff.

    Args:
        host: where the server is.
        port: where the server is.
        path: a Unix socket, instead of ``host`` and ``port``.
        db: selected on every (re)connect.
        username: authenticated on every (re)connect.
        password: authenticated on every (re)connect.
        ssl: an ``ssl.SSLContext``, or True for the system's verified default.
        decode_responses: str replies (UTF-8) instead of bytes.
        protocol: 2 (RESP2) or 3 (RESP3, through HELLO 3).
        connect_timeout: seconds for a connect and its handshake.
        command_timeout: seconds to wait for a reply (None: no limit); when it passes,
            the connection is dropped and what was in flight fails with RedisTimeoutError.
        client_name: set with CLIENT SETNAME on every connection.
        max_blocking_connections: idle dedicated connections kept for blocking commands.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        *,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        ssl: ssl_module.SSLContext | bool | None = None,
        decode_responses: bool = False,
        protocol: int = 2,
        connect_timeout: float = 10.0,
        command_timeout: float | None = None,
        client_name: str | None = None,
        max_blocking_connections: int = 4,
    ) -> None:
        if protocol not in (2, 3):
            raise RedisError(f"protocol must be 2 or 3, not {protocol!r}")
        if ssl is True:
            ssl = ssl_module.create_default_context()
        address = ServerAddress(
            host=host,
            port=port,
            path=path,
            tls=isinstance(ssl, ssl_module.SSLContext),
            username=username,
            password=password,
            db=db,
        )
        self.options = Options(
            address=address,
            protocol=protocol,
            decode_responses=decode_responses,
            ssl_context=ssl if isinstance(ssl, ssl_module.SSLContext) else None,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
            client_name=client_name,
        )
        self.max_blocking_connections = max_blocking_connections
        self._main = RedisConnection(self.options)
        self._idle_blocking: list[RedisConnection] = []
        self._busy_blocking: set[RedisConnection] = set()
        self._closed = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Redis:
        """A client for ``redis://[[user]:password@]host[:port][/db]``, ``rediss://``
        (TLS, verified) or ``unix://[[user]:password@]/path.sock[?db=N]``; keyword
        options as for the constructor."""
        address = parse_url(url)
        if address.tls and "ssl" not in options:
            options["ssl"] = True
        return cls(
            address.host,
            address.port,
            path=address.path,
            db=address.db,
            username=address.username,
            password=address.password,
            **options,
        )

    # -- commands ------------------------------------------------------------------------

    def execute(
        self, *args: Any, callback: Callable[[Any, BaseException | None], Any] | None = None
    ) -> Any:
        """Run any command: ``await redis.execute("GET", "k")``."""
        if not args:
            raise RedisError("execute() needs a command")
        return self._command(args, callback, None)

    def _command(
        self,
        args: tuple[Any, ...],
        callback: Callable[[Any, BaseException | None], Any] | None,
        transform: Callable[[Any], Any] | None,
    ) -> Any:
        pending = Pending(callback, transform)
        if self._closed:
            pending.fail(RedisConnectionError("the client is closed"))
        elif is_blocking(args):
            self._run_blocking(args, pending)
        else:
            self._main.request(args, pending)
        return pending.future

    def _run_blocking(self, args: tuple[Any, ...], pending: Pending) -> None:
        conn = self._idle_blocking.pop() if self._idle_blocking else None
        if conn is None:
            conn = RedisConnection(replace(self.options, command_timeout=None))
        self._busy_blocking.add(conn)
        inner = Pending(self._blocking_done(conn, pending), None, raw=True)
        conn.request(args, inner)

    def _blocking_done(
        self, conn: RedisConnection, pending: Pending
    ) -> Callable[[Any, BaseException | None], None]:
        def done(reply: Any, error: BaseException | None) -> None:
            self._busy_blocking.discard(conn)
            if self._closed or len(self._idle_blocking) >= self.max_blocking_connections:
                conn.close()
            else:
                self._idle_blocking.append(conn)
            if error is not None:
                pending.fail(error)
            else:
                pending.resolve(reply)

        return done

    # -- factories -----------------------------------------------------------------------

    def pipeline(self, transaction: bool = True) -> Any:
        """Commands collected and sent together: ``async with redis.pipeline() as pipe:
        pipe.incr("a"); results = await pipe.execute()``. With ``transaction`` they run
        inside MULTI/EXEC; ``await pipe.watch(...)`` first makes it optimistic."""
        from ._pipeline import Pipeline

        return Pipeline(self, transaction)

    def pubsub(self) -> Any:
        """A subscriber on a connection of its own: ``async with redis.pubsub() as ps:``."""
        from ._pubsub import PubSub

        return PubSub(self)

    def register_script(self, source: str | bytes) -> Any:
        """A :class:`Script` for ``source``: run by SHA1, loaded again on NOSCRIPT."""
        from ._script import Script

        return Script(self, source)

    def dedicated_connection(self) -> RedisConnection:
        """A connection of its own (for WATCH transactions), with this client's options."""
        return RedisConnection(self.options)

    # -- life cycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection; commands still waiting fail with RedisConnectionError."""
        self._closed = True
        self._main.close()
        for conn in [*self._idle_blocking, *self._busy_blocking]:
            conn.close()
        self._idle_blocking.clear()
        self._busy_blocking.clear()

    async def aclose(self) -> None:
        """Close (the async spelling, for ``async with`` and anyio habits)."""
        self.close()

    async def __aenter__(self) -> Redis:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        address = self.options.address
        where = address.path or f"{address.host}:{address.port}"
        return f"<Redis {where} db={address.db}>"
