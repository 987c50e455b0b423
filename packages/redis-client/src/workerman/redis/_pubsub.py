"""Pub/sub on a connection of its own, resubscribed after every reconnect."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workerman.core import Future, current_loop

from ._connection import RedisConnection, call_user
from ._exceptions import RedisConnectionError, RedisError

if TYPE_CHECKING:
    from ._client import Redis

__all__ = ["Message", "PubSub"]

logger = logging.getLogger("workerman.redis")

MessageCallback = Callable[["Message"], Any]

# subscribe kind -> (the confirmation's name, the message kind it delivers)
_KINDS = {
    "SUBSCRIBE": ("subscribe", "message"),
    "PSUBSCRIBE": ("psubscribe", "pmessage"),
    "SSUBSCRIBE": ("ssubscribe", "smessage"),
}
_UNSUBSCRIBE = {
    "UNSUBSCRIBE": "SUBSCRIBE",
    "PUNSUBSCRIBE": "PSUBSCRIBE",
    "SUNSUBSCRIBE": "SSUBSCRIBE",
}


@dataclass(frozen=True, slots=True)
class Message:
    """One published message: ``kind`` is message, pmessage or smessage; ``pattern`` is
    set for pmessage."""

    kind: str
    channel: Any
    data: Any
    pattern: Any = None


def _key(name: Any) -> bytes:
    """A channel or pattern as the bytes on the wire: b"news" and "news" are one channel."""
    if isinstance(name, bytes | bytearray | memoryview):
        return bytes(name)
    return str(name).encode()


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class PubSub:
    """Subscriptions on a connection of their own.

    Messages arrive by ``async for message in ps`` (or ``await ps.get_message()``), or,
    for channels subscribed with ``callback=fn``, by ``fn(message)``. Subscriptions
    survive a lost connection: it reconnects (capped, jittered backoff) and subscribes
    again to everything it had.
    """

    def __init__(self, client: Redis, max_queued: int = 10_000) -> None:
        self._conn = RedisConnection(client.options, keep_connected=True)
        self._conn.on_push = self._on_push
        self._conn.on_ready = self._resubscribe
        self._conn.on_failure = self._fail_confirming
        self.max_queued = max_queued
        # kind -> {channel or pattern: callback or None}
        self._subscriptions: dict[str, dict[Any, MessageCallback | None]] = {
            kind: {} for kind in _KINDS
        }
        self._confirming: dict[tuple[str, str], list[Future]] = {}
        self._messages: deque[Message] = deque()
        self._waiter: Future | None = None
        self._closed = False
        self.dropped = 0  # messages dropped because the queue was full

    # -- subscribing ---------------------------------------------------------------------

    async def subscribe(self, *channels: Any, callback: MessageCallback | None = None) -> None:
        """Subscribe and wait until the server confirms."""
        await self._subscribe("SUBSCRIBE", channels, callback)

    async def psubscribe(self, *patterns: Any, callback: MessageCallback | None = None) -> None:
        """Subscribe to channel patterns (``news.*``)."""
        await self._subscribe("PSUBSCRIBE", patterns, callback)

    async def ssubscribe(self, *channels: Any, callback: MessageCallback | None = None) -> None:
        """Subscribe to shard channels (Redis 7)."""
        await self._subscribe("SSUBSCRIBE", channels, callback)

    async def unsubscribe(self, *channels: Any) -> None:
        """Unsubscribe from ``channels`` (all when none given)."""
        await self._unsubscribe("UNSUBSCRIBE", channels)

    async def punsubscribe(self, *patterns: Any) -> None:
        """Unsubscribe from ``patterns`` (from every pattern when none is given)."""
        await self._unsubscribe("PUNSUBSCRIBE", patterns)

    async def sunsubscribe(self, *channels: Any) -> None:
        """Unsubscribe from the shard ``channels`` (from every one when none is given)."""
        await self._unsubscribe("SUNSUBSCRIBE", channels)

    async def _subscribe(
        self, command: str, names: tuple[Any, ...], callback: MessageCallback | None
    ) -> None:
        if not names:
            raise RedisError(f"{command.lower()}() needs at least one name")
        self._check_open()
        confirm, _kind = _KINDS[command]
        table = self._subscriptions[command]
        for name in names:
            table[_key(name)] = callback
        await self._send_and_confirm(command, confirm, names)

    async def _unsubscribe(self, command: str, names: tuple[Any, ...]) -> None:
        self._check_open()
        kind = _UNSUBSCRIBE[command]
        table = self._subscriptions[kind]
        targets = names or tuple(table)
        for name in targets:
            table.pop(_key(name), None)
        if targets and self._conn.ready:  # not connected: nothing to undo on the server
            await self._send_and_confirm(command, command.lower(), targets)

    async def _send_and_confirm(self, command: str, confirm: str, names: tuple[Any, ...]) -> None:
        futures = []
        for name in names:
            future = current_loop().create_future()
            self._confirming.setdefault((confirm, _text(name)), []).append(future)
            futures.append(future)
        if self._conn.ready:
            self._conn.send(_encode(command, names), None)
        else:  # sent with every other subscription once the connection is ready
            self._conn.ensure_connected()
        for future in futures:
            await future

    def _resubscribe(self) -> None:
        for command, table in self._subscriptions.items():
            if table:
                self._conn.send(_encode(command, tuple(table)), None)

    def _fail_confirming(self, error: BaseException) -> None:
        """A connect or its handshake failed (a wrong password, say): whoever waits for a
        subscription to be confirmed hears it; the subscriptions stay, for the retry."""
        confirming, self._confirming = self._confirming, {}
        for futures in confirming.values():
            for future in futures:
                future.set_exception(error)

    # -- receiving -------------------------------------------------------------------------

    def _on_push(self, reply: Any) -> None:
        if not isinstance(reply, list) or not reply:
            return
        kind = _text(reply[0])
        if kind in ("message", "smessage") and len(reply) >= 3:
            self._deliver(Message(kind, reply[1], reply[2]), kind, reply[1])
        elif kind == "pmessage" and len(reply) >= 4:
            self._deliver(Message(kind, reply[2], reply[3], reply[1]), "pmessage", reply[1])
        elif len(reply) >= 2:
            waiting = self._confirming.get((kind, _text(reply[1])))
            if waiting:
                waiting.pop(0).set_result(None)
                if not waiting:
                    del self._confirming[(kind, _text(reply[1]))]

    def _deliver(self, message: Message, kind: str, key: Any) -> None:
        command = {"message": "SUBSCRIBE", "pmessage": "PSUBSCRIBE", "smessage": "SSUBSCRIBE"}[kind]
        table = self._subscriptions[command]
        callback = table.get(_key(key))
        if callback is not None:
            call_user(callback, message)
            return
        if len(self._messages) >= self.max_queued:
            self.dropped += 1
            logger.warning("pub/sub queue full (%d messages): dropped one", self.max_queued)
            return
        self._messages.append(message)
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.set_result(None)

    async def get_message(self, timeout: float | None = None) -> Message | None:
        """The next message not taken by a callback; None after ``timeout`` seconds."""
        import anyio

        self._check_open()
        if not self._messages:
            waiter = self._waiter = current_loop().create_future()
            with anyio.move_on_after(timeout):
                await waiter
            if self._waiter is waiter:
                self._waiter = None
        self._check_open()
        return self._messages.popleft() if self._messages else None

    def __aiter__(self) -> PubSub:
        return self

    async def __anext__(self) -> Message:
        while True:
            message = await self.get_message()
            if message is not None:
                return message

    # -- life cycle ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RedisConnectionError("this pub/sub is closed")

    def close(self) -> None:
        """Close the connection; a waiting iterator ends with RedisConnectionError."""
        self._closed = True
        self._conn.close()
        error = RedisConnectionError("this pub/sub is closed")
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.set_exception(error)
        for futures in self._confirming.values():
            for future in futures:
                future.set_exception(error)
        self._confirming.clear()

    async def aclose(self) -> None:
        """Close the connection (as :meth:`close`), for ``async with`` and awaiting code."""
        self.close()

    async def __aenter__(self) -> PubSub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


def _encode(command: str, names: tuple[Any, ...]) -> bytes:
    from ._connection import encode_command

    return encode_command((command, *names))
