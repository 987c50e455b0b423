"""Channel: app events between processes and machines (Workerman's Channel, on Redis).

``publish`` reaches every subscriber of an event now (pub/sub: at most once, subscribers
that are not connected miss it). ``publish_one`` hands the event to exactly one subscriber
of each consumer group (a Redis Stream with a consumer group): it waits in Redis until a
subscriber takes it, and one that fails or dies before it finishes is retried by another
after ``claim_after`` seconds, so it is delivered at least once.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import secrets
from collections.abc import Callable
from typing import Any

import anyio

from workerman.core import Future, current_loop, register_status
from workerman.redis import Redis, ResponseError

from ._exceptions import GatewayError, MessageTooLargeError, translate
from ._names import Names, validate_name
from ._op import Op, await_or_call

__all__ = ["Channel"]

logger = logging.getLogger("workerman.gateway")

Handler = Callable[[Any], Any]
Callback = Callable[[Any, BaseException | None], Any] | None


class Channel:
    """Events by name, to every subscriber or to one of them.

    Args:
        redis: a URL or a :class:`workerman.redis.Redis` (each process makes its own
            client from a URL, on first use).
        prefix: namespace of the channel's keys and pub/sub channels.
        group: the consumer group of this process's subscribers for ``publish_one``:
            each group gets one copy of every such event.
        timeout: seconds to wait for Redis.
        claim_after: seconds after which an event taken by a subscriber that has not
            finished it (it raised, or its process died) goes to another.
        max_queue: queued events kept per event name (older ones are trimmed).
        max_message_size: bytes of an event's data as JSON.
        poll: seconds a subscriber waits in Redis for queued events before it looks
            again (an ``off`` takes effect within it).
    """

    def __init__(
        self,
        redis: str | Redis = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "workerman:channel:",
        group: str = "default",
        timeout: float = 5.0,
        claim_after: float = 30.0,
        max_queue: int = 100_000,
        max_message_size: int = 1024 * 1024,
        poll: float = 1.0,
    ) -> None:
        self.names = Names(prefix)
        self.group = validate_name("group", group, 256)
        self.timeout = timeout
        self.claim_after = claim_after
        self.max_queue = max_queue
        self.max_message_size = max_message_size
        self.poll = poll
        if not isinstance(redis, str) and redis.options.decode_responses:
            raise GatewayError("the channel's Redis client must keep bytes: decode_responses=False")
        self._url = redis if isinstance(redis, str) else None
        self._redis: Redis | None = None if isinstance(redis, str) else redis
        self._pid = os.getpid()
        self._handlers: dict[str, Handler] = {}
        self._pubsub: Any = None
        self._consumer = f"{secrets.token_hex(6)}-{os.getpid()}"
        self._closed = False
        self._unregister_status: Callable[[], None] | None = None
        self.handled = 0
        self.failed = 0

    @property
    def redis(self) -> Redis:
        if self._url is not None and (self._redis is None or self._pid != os.getpid()):
            self._redis = Redis.from_url(
                self._url, connect_timeout=self.timeout, command_timeout=self.timeout
            )
            self._pid = os.getpid()
            self._pubsub = None
        assert self._redis is not None
        return self._redis

    def _channel(self, event: str) -> str:
        return f"{self.names.prefix}ev:{event}"

    def _stream(self, event: str) -> str:
        return f"{self.names.prefix}q:{event}"

    # -- subscribing --------------------------------------------------------------------------

    def on(self, event: str, handler: Handler) -> Future:
        """Call ``handler(data)`` (plain or async) for every ``publish`` of ``event`` and
        for the ``publish_one`` events this process's group hands it. One handler per
        event; a second ``on`` replaces the first.

        Subscribing starts at once (call it from a worker callback or any running loop);
        ``await channel.on(...)`` waits until it is confirmed, and raises
        GatewayUnavailableError when Redis is out of reach (the handler is dropped then).
        Not awaited, a failure is logged."""
        event = validate_name("event", event, 256)
        done = current_loop().create_future()
        first = event not in self._handlers
        self._handlers[event] = handler
        if first:
            current_loop().spawn(self._subscribe, event, done)
        else:
            done.set_result(None)
        return done

    async def _subscribe(self, event: str, done: Future) -> None:
        if self._pubsub is None:
            self._pubsub = self.redis.pubsub()
        if self._unregister_status is None:  # a "channel:" line in the process's status
            self._unregister_status = register_status("channel", self.status)
        try:
            with anyio.fail_after(self.timeout):
                await self._pubsub.subscribe(self._channel(event), callback=self._on_publish)
                await self._ensure_group(event)
        except Exception as exc:
            self._handlers.pop(event, None)
            logger.warning("channel: subscribing to %r failed: %s", event, exc)
            done.set_exception(translate(exc))
            return
        done.set_result(None)
        await self._consume(event)

    async def off(self, event: str) -> None:
        """Stop handling ``event``."""
        if self._handlers.pop(event, None) is not None and self._pubsub is not None:
            try:
                with anyio.fail_after(self.timeout):
                    await self._pubsub.unsubscribe(self._channel(event))
            except Exception as exc:
                raise translate(exc) from exc

    # -- publishing -----------------------------------------------------------------------------

    def publish(self, event: str, data: Any = None, *, callback: Callback = None) -> Any:
        """Send ``data`` (JSON-serialisable) to every subscriber of ``event`` (now: await
        for the result, how many processes got it)."""
        payload = self._payload(event, data)
        return await_or_call(self._publish(event, payload), callback)

    def publish_one(self, event: str, data: Any = None, *, callback: Callback = None) -> Any:
        """Queue ``data`` for one subscriber of ``event`` in each consumer group (it waits
        in Redis while none is there). Result: the queued entry's id."""
        payload = self._payload(event, data)
        return await_or_call(self._enqueue(event, payload), callback)

    def _publish(self, event: str, payload: str) -> Op:
        reply = self.redis.execute("PUBLISH", self._channel(event), payload)
        return Op([reply], lambda replies: int(replies[0]))

    def _enqueue(self, event: str, payload: str) -> Op:
        reply = self.redis.execute(
            "XADD", self._stream(event), "MAXLEN", "~", self.max_queue, "*", "d", payload
        )
        return Op([reply], lambda replies: _text(replies[0]))

    def _payload(self, event: str, data: Any) -> str:
        validate_name("event", event, 256)
        try:
            payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise GatewayError(f"event data must be JSON-serialisable: {exc}") from None
        if len(payload.encode()) > self.max_message_size:
            raise MessageTooLargeError(f"event data over {self.max_message_size} bytes")
        return payload

    # -- receiving --------------------------------------------------------------------------------

    def _on_publish(self, message: Any) -> None:
        channel = (
            message.channel.decode() if isinstance(message.channel, bytes) else message.channel
        )
        event = channel[len(self.names.prefix) + 3 :]
        handler = self._handlers.get(event)
        if handler is None:
            return
        try:
            data = json.loads(message.data)
        except ValueError:
            logger.warning("channel: event %r with data that is not JSON: dropped", event)
            return
        current_loop().spawn(self._handle, event, handler, data)

    async def _handle(self, event: str, handler: Handler, data: Any) -> bool:
        try:
            result = handler(data)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self.failed += 1
            logger.exception("channel: the handler of %r raised", event)
            return False
        self.handled += 1
        return True

    async def _ensure_group(self, event: str) -> None:
        try:
            await self.redis.execute(
                "XGROUP", "CREATE", self._stream(event), self.group, "0", "MKSTREAM"
            )
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise

    async def _consume(self, event: str) -> None:
        """Take this group's queued events for ``event`` while it has a handler: new
        ones, and ones another consumer took and did not finish within claim_after."""
        stream, failures = self._stream(event), 0
        claim_ms = int(self.claim_after * 1000)
        while event in self._handlers and not self._closed:
            redis = self.redis
            try:
                claimed = await redis.execute(
                    "XAUTOCLAIM", stream, self.group, self._consumer, claim_ms, "0", "COUNT", 10
                )
                entries = list(claimed[1]) if claimed and len(claimed) > 1 else []
                reply = await redis.execute(
                    "XREADGROUP", "GROUP", self.group, self._consumer, "COUNT", 100,
                    "BLOCK", max(1, int(self.poll * 1000)), "STREAMS", stream, ">",
                )  # fmt: skip
                for _name, batch in _stream_entries(reply):
                    entries.extend(batch)
                failures = 0
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # the stream went (Redis restarted empty)
                    await self._recreate(event)
                    continue
                failures += 1
                logger.warning("channel: reading %r failed: %s", event, exc)
                await anyio.sleep(min(5.0, 0.1 * 2**failures))
                continue
            except Exception as exc:
                if self._closed:
                    return
                failures += 1
                if failures == 1:
                    logger.warning("channel: reading %r failed: %s", event, exc)
                await anyio.sleep(min(5.0, 0.1 * 2**failures))
                continue
            for entry_id, fields in entries:
                await self._take(event, stream, entry_id, fields)

    async def _recreate(self, event: str) -> None:
        try:
            await self._ensure_group(event)
        except Exception as exc:
            logger.warning("channel: cannot create the group of %r: %s", event, exc)
            await anyio.sleep(1.0)

    async def _take(self, event: str, stream: str, entry_id: Any, fields: Any) -> None:
        handler = self._handlers.get(event)
        if handler is None or fields is None:  # stopped, or the entry was trimmed
            return
        values = dict(zip(fields[::2], fields[1::2], strict=False))
        raw = values.get(b"d", values.get("d"))
        try:
            data = json.loads(raw) if raw is not None else None
        except ValueError:
            data = None
        if await self._handle(event, handler, data):
            try:
                await self.redis.execute("XACK", stream, self.group, entry_id)
            except Exception as exc:  # claimed again later: at least once
                logger.warning("channel: could not acknowledge %r: %s", entry_id, exc)

    # -- life cycle ---------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        """Events with a handler here, and handler calls that returned or raised."""
        return {"events": len(self._handlers), "handled": self.handled, "failed": self.failed}

    async def aclose(self) -> None:
        """Stop every handler and close the connections."""
        self._closed = True
        if self._unregister_status is not None:
            self._unregister_status()
            self._unregister_status = None
        self._handlers.clear()
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None
        if self._url is not None and self._redis is not None:
            self._redis.close()
            self._redis = None

    async def __aenter__(self) -> Channel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _stream_entries(reply: Any) -> list[tuple[Any, list[Any]]]:
    """XREADGROUP's reply as (stream, entries), under RESP2 (list) or RESP3 (map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [(name, list(batch)) for name, batch in reply.items()]
    return [(item[0], list(item[1])) for item in reply]
