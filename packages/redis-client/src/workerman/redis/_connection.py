"""One Redis connection: commands pipelined onto the socket in order, replies matched to
them first in, first out, through hiredis; handshake, reconnect and timeouts.

Commands issued in one loop iteration leave in one write. Until the connection is up
and its handshake (HELLO, AUTH, SELECT) has been answered, commands wait; a connect that
fails fails them, and a connection that drops fails the commands in flight (their effect
on the server is unknown), so nothing ever hangs.
"""

from __future__ import annotations

import inspect
import logging
import random
import ssl as ssl_module
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hiredis

from workerman.core import CONNECT_FAIL, AsyncTcpConnection, EventLoop, current_loop

from ._exceptions import (
    RedisConnectionError,
    RedisError,
    RedisProtocolError,
    RedisTimeoutError,
    error_from_reply,
)
from ._url import ServerAddress

logger = logging.getLogger("workerman.redis")

Callback = Callable[[Any, BaseException | None], Any]
Transform = Callable[[Any], Any]

_BACKOFF_FIRST = 0.05
_BACKOFF_MAX = 5.0


class ReplyError(Exception):
    """What hiredis builds for an error reply (top level or nested in an array)."""


@dataclass(frozen=True)
class Options:
    address: ServerAddress = field(default_factory=ServerAddress)
    protocol: int = 2
    decode_responses: bool = False
    ssl_context: ssl_module.SSLContext | None = None
    connect_timeout: float = 10.0
    command_timeout: float | None = None
    client_name: str | None = None


def encode_command(args: tuple[Any, ...]) -> bytes:
    """RESP: an array of bulk strings (hiredis packs the common argument types)."""
    try:
        packed: bytes = _pack(args)
    except TypeError:  # bool, bytearray and the like: ours takes them
        return _encode_slow(args)
    return packed


_pack = hiredis.pack_command


def _encode_slow(args: tuple[Any, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, bool):
            data = b"1" if arg else b"0"
        elif isinstance(arg, int):
            data = b"%d" % arg
        elif isinstance(arg, float):
            data = repr(arg).encode()
        elif isinstance(arg, bytearray | memoryview):
            data = bytes(arg)
        else:
            raise RedisError(
                f"cannot send {type(arg).__name__} to Redis: use bytes, str, int or float"
            )
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


class Pending:
    """A command waiting for its reply: a future to await, or a callback to call."""

    __slots__ = ("callback", "deadline", "future", "raw", "transform")

    def __init__(
        self,
        callback: Callback | None,
        transform: Transform | None,
        raw: bool = False,
    ) -> None:
        self.callback = callback
        self.transform = transform
        self.raw = raw  # deliver error replies as values (a transaction's results)
        self.future = None if callback is not None else current_loop().create_future()
        self.deadline = 0.0

    def resolve(self, reply: Any) -> None:
        if isinstance(reply, ReplyError):
            if not self.raw:
                self.fail(error_from_reply(str(reply)))
                return
        elif self.transform is not None:
            try:
                reply = self.transform(reply)
            except Exception as exc:
                self.fail(RedisError(f"unexpected reply {reply!r}: {exc}"))
                return
        if self.callback is not None:
            self._call(reply, None)
        else:
            assert self.future is not None
            self.future.set_result(reply)

    def fail(self, error: BaseException) -> None:
        if self.callback is not None:
            self._call(None, error)
        else:
            assert self.future is not None
            self.future.set_exception(error)

    def _call(self, result: Any, error: BaseException | None) -> None:
        call_user(self.callback, result, error)


class Batch:
    """Several commands sent together (a pipeline) and one future for all their replies:
    the list, in order, error replies left in it as ReplyError values."""

    __slots__ = ("deadline", "future", "results", "transforms")

    def __init__(self, transforms: list[Transform | None]) -> None:
        self.transforms = transforms
        self.results: list[Any] = []
        self.future = current_loop().create_future()
        self.deadline = 0.0

    def resolve(self, reply: Any) -> None:
        transform = self.transforms[len(self.results)]
        if transform is not None and not isinstance(reply, ReplyError):
            try:
                reply = transform(reply)
            except Exception as exc:
                reply = RedisError(f"unexpected reply {reply!r}: {exc}")
        self.results.append(reply)
        if len(self.results) == len(self.transforms):
            self.future.set_result(self.results)

    def fail(self, error: BaseException) -> None:
        self.future.set_exception(error)  # once: a done future ignores the rest


Waiter = Pending | Batch


class RedisConnection:
    """Commands in, replies out, over one socket that it (re)opens as needed."""

    def __init__(self, options: Options, *, keep_connected: bool = False) -> None:
        self.options = options
        self.keep_connected = keep_connected  # reconnect at once after a loss (pub/sub)
        self.on_push: Callable[[Any], None] | None = None  # replies nobody waits for
        self.on_ready: Callable[[], None] | None = None
        self.on_failure: Callable[[BaseException], None] | None = None  # connect/handshake
        self._conn: AsyncTcpConnection | None = None
        self._reader = self._new_reader()
        self._pending: deque[Waiter] = deque()
        self._waiting: list[tuple[bytes, Waiter | None, int]] = []
        self._outbox: list[bytes] = []
        self._flush_scheduled = False
        self._state = "idle"  # idle, connecting, handshake, ready, closed
        self._failures = 0
        self._retry_timer = 0
        self._watchdog = 0
        self._handshake_timer = 0
        self._connect_started = 0.0
        self._loop: EventLoop | None = None  # the loop the socket belongs to

    def _new_reader(self) -> Any:
        kwargs: dict[str, Any] = {"replyError": ReplyError, "protocolError": RedisProtocolError}
        if self.options.decode_responses:
            kwargs["encoding"] = "utf-8"
            kwargs["errors"] = "strict"
        return hiredis.Reader(**kwargs)

    @property
    def ready(self) -> bool:
        return self._state == "ready"

    @property
    def in_flight(self) -> int:
        return len(self._pending) + len(self._waiting)

    # -- requests ----------------------------------------------------------------------

    def request(self, args: tuple[Any, ...], pending: Pending) -> None:
        self.send(encode_command(args), pending)

    def send(self, payload: bytes, pending: Waiter | None, replies: int = 1) -> None:
        """Queue encoded commands and what waits for their ``replies`` (a Pending for
        one, a Batch for a pipeline); ``pending`` None: the replies go to ``on_push``
        (subscribe and friends)."""
        state = self._state
        if self._loop is not None and current_loop() is not self._loop and state != "closed":
            state = self._forget_ended_loop()
        if state == "closed":
            if pending is not None:
                pending.fail(RedisConnectionError("the client is closed"))
            return
        if state != "ready":
            self._waiting.append((payload, pending, replies))
            if state == "idle" and not self._retry_timer:
                self._connect()
            return
        self._push(payload, pending, replies)

    def _forget_ended_loop(self) -> str:
        # The client outlived the event loop it connected on (a second asyncio.run in
        # one script): that socket, its timers and its waiters are gone with the loop.
        self._loop = None
        self._conn = None
        self._pending.clear()
        self._waiting.clear()
        self._outbox.clear()
        self._flush_scheduled = False
        self._retry_timer = self._watchdog = self._handshake_timer = 0
        self._failures = 0
        self._state = "idle"
        return "idle"

    def _push(self, payload: bytes, pending: Waiter | None, replies: int = 1) -> None:
        idle = not self._pending and not self._flush_scheduled
        if pending is not None:
            timeout = self.options.command_timeout
            if timeout is not None:
                pending.deadline = current_loop().time() + timeout
                if not self._watchdog:
                    self._watchdog = current_loop().delay(timeout, self._check_deadlines)
            if replies == 1:
                self._pending.append(pending)
            else:
                self._pending.extend([pending] * replies)
        conn = self._conn
        if idle and conn is not None:
            # Nothing in flight: a lone command leaves at once. Commands issued while
            # others are in flight wait for the end of this loop iteration, together.
            if conn.send(payload, raw=True) is False:
                self._lost(RedisConnectionError("the connection's send buffer is full"))
            return
        self._outbox.append(payload)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            current_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        outbox, self._outbox = self._outbox, []
        if not outbox or self._conn is None:
            return
        data = outbox[0] if len(outbox) == 1 else b"".join(outbox)
        if self._conn.send(data, raw=True) is False:
            self._lost(RedisConnectionError("the connection's send buffer is full"))

    def _check_deadlines(self) -> None:
        self._watchdog = 0
        if not self._pending:
            return
        now = current_loop().time()
        head = self._pending[0]
        if head.deadline and head.deadline <= now:
            timeout = self.options.command_timeout
            self._abort(RedisTimeoutError(f"no reply from Redis within {timeout}s"))
            return
        wait = max(0.001, head.deadline - now) if head.deadline else self.options.command_timeout
        self._watchdog = current_loop().delay(wait or 1.0, self._check_deadlines)

    # -- the socket ----------------------------------------------------------------------

    def _connect(self) -> None:
        self._retry_timer = 0
        address = self.options.address
        self._state = "connecting"
        self._loop = current_loop()
        self._connect_started = self._loop.time()
        if address.path is not None:
            uri = f"unix://{address.path}"
        else:
            host = f"[{address.host}]" if ":" in address.host else address.host
            uri = f"tcp://{host}:{address.port}"
        conn = AsyncTcpConnection(
            uri,
            ssl=self.options.ssl_context,
            server_hostname=address.host or None,
            connect_timeout=self.options.connect_timeout,
        )
        conn.max_send_buffer_size = 256 * 1024 * 1024
        conn.on_connect = self._on_connect
        conn.on_message = self._on_data
        conn.on_error = self._on_error
        conn.on_close = self._on_close
        self._conn = conn
        self._reader = self._new_reader()
        conn.connect()

    def _on_connect(self, conn: AsyncTcpConnection) -> None:
        if conn is not self._conn:
            return
        self._state = "handshake"
        steps = self._handshake()
        if not steps:
            self._on_ready()
            return
        # connect_timeout covers the handshake too: a server that accepts and never
        # answers must not leave the commands waiting for it hanging
        remaining = self._connect_started + self.options.connect_timeout - current_loop().time()
        self._handshake_timer = current_loop().delay(max(0.001, remaining), self._handshake_late)
        last = len(steps) - 1
        for index, args in enumerate(steps):
            step = Pending(self._handshake_step(args, index == last), None, raw=True)
            self._push(encode_command(args), step)

    def _handshake(self) -> list[tuple[Any, ...]]:
        options, address = self.options, self.options.address
        steps: list[tuple[Any, ...]] = []
        if options.protocol == 3:
            hello: list[Any] = ["HELLO", 3]
            if address.password is not None:
                hello += ["AUTH", address.username or "default", address.password]
            if options.client_name:
                hello += ["SETNAME", options.client_name]
            steps.append(tuple(hello))
        else:
            if address.password is not None:
                auth = ("AUTH", address.username, address.password)
                steps.append(auth if address.username else ("AUTH", address.password))
            if options.client_name:
                steps.append(("CLIENT", "SETNAME", options.client_name))
        if address.db:
            steps.append(("SELECT", address.db))
        return steps

    def _handshake_step(self, args: tuple[Any, ...], last: bool) -> Callback:
        def done(reply: Any, error: BaseException | None) -> None:
            if isinstance(reply, ReplyError):
                error = error_from_reply(str(reply))
            if error is not None:
                if self._state == "handshake":
                    self._state = "idle"  # the other steps' failures are this one's
                    self._fail_waiting(error)
                    if not isinstance(error, RedisError):
                        error = RedisConnectionError(str(error))
                    self._abort(error)
                return
            if last and self._state == "handshake":
                self._on_ready()

        return done

    def _handshake_late(self) -> None:
        self._handshake_timer = 0
        if self._state == "handshake":
            timeout = self.options.connect_timeout
            self._abort(RedisTimeoutError(f"no answer to the handshake within {timeout}s"))

    def _on_ready(self) -> None:
        self._cancel_handshake_timer()
        self._state = "ready"
        self._failures = 0
        waiting, self._waiting = self._waiting, []
        for payload, pending, replies in waiting:
            self._push(payload, pending, replies)
        if self.on_ready is not None:
            self.on_ready()

    def _on_data(self, conn: AsyncTcpConnection, data: bytes) -> None:
        if conn is not self._conn:
            return
        reader = self._reader
        reader.feed(data)
        pending = self._pending
        while True:
            try:
                reply = reader.gets()
            except RedisProtocolError as exc:
                self._abort(RedisProtocolError(f"Redis sent bytes that are not RESP: {exc}"))
                return
            if reply is False:
                return
            if pending and not (self.on_push is not None and _is_push(reply)):
                pending.popleft().resolve(reply)
            elif self.on_push is not None:
                self.on_push(reply)
            else:
                logger.warning("a reply from Redis that no command waited for: %r", reply)

    def _on_error(self, conn: AsyncTcpConnection, code: int, message: str) -> None:
        if conn is not self._conn:
            return
        if code == CONNECT_FAIL:
            error: RedisError = RedisConnectionError(message)
            if "timed out" in message:
                error = RedisTimeoutError(message)
            self._fail_waiting(error)
        else:
            logger.info("Redis connection: %s", message)

    def _on_close(self, conn: AsyncTcpConnection) -> None:
        if conn is not self._conn:
            return
        self._conn = None
        self._lost(RedisConnectionError("the connection to Redis was lost"))

    def _lost(self, error: RedisError) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.destroy()
        # Settle the state first, and only then call back: a callback may send a command
        # at once, and it must find the connection idle (or reconnecting), not "ready".
        pending, self._pending = self._pending, deque()
        self._outbox.clear()
        if self._watchdog:
            current_loop().cancel(self._watchdog)
            self._watchdog = 0
        self._cancel_handshake_timer()
        state = self._state
        if state == "closed":
            self._fail_waiting(RedisConnectionError("the client is closed"))
        else:
            self._state = "idle"
            if state in ("connecting", "handshake"):
                self._fail_waiting(error)  # a connect that fails fails what waits for it
            if (
                self._state == "idle"
                and not self._retry_timer
                and (self.keep_connected or self._waiting)
            ):
                self._failures += 1
                delay = min(_BACKOFF_MAX, _BACKOFF_FIRST * 2 ** (self._failures - 1))
                self._retry_timer = current_loop().delay(
                    delay * random.uniform(0.5, 1.0), self._connect
                )
        for item in pending:
            item.fail(error)

    def _cancel_handshake_timer(self) -> None:
        if self._handshake_timer:
            current_loop().cancel(self._handshake_timer)
            self._handshake_timer = 0

    def _abort(self, error: RedisError) -> None:
        """Drop the connection: what is in flight fails with ``error``."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.on_close = None
            conn.destroy()
        self._lost(error)

    def _fail_waiting(self, error: BaseException) -> None:
        waiting, self._waiting = self._waiting, []
        for _payload, pending, _replies in waiting:
            if pending is not None:
                pending.fail(error)
        if self.on_failure is not None and self._state != "closed":
            self.on_failure(error)

    def ensure_connected(self) -> None:
        """Start connecting if nothing is under way (the first command would do the same)."""
        if self._state == "idle" and not self._retry_timer:
            self._connect()

    def close(self) -> None:
        """Close now; commands in flight or waiting fail."""
        if self._loop is not None and current_loop() is not self._loop:
            self._forget_ended_loop()
        self._state = "closed"
        if self._retry_timer:
            current_loop().cancel(self._retry_timer)
            self._retry_timer = 0
        self._abort(RedisConnectionError("the client is closed"))


def call_user(callback: Any, *args: Any) -> None:
    """Call a user's callback; log what it raises, run what it returns if awaitable."""
    try:
        result = callback(*args)
    except Exception:
        logger.exception("a Redis callback raised")
        return
    if result is not None and inspect.isawaitable(result):
        current_loop().spawn_awaitable(result, lambda: "a Redis callback")


def _is_push(reply: Any) -> bool:
    """A pub/sub message rather than the reply to a command (RESP2 arrays or RESP3 push)."""
    if not isinstance(reply, list) or not reply:
        return False
    kind = reply[0]
    if isinstance(kind, bytes):
        kind = kind.decode(errors="replace")
    return kind in ("message", "pmessage", "smessage")
