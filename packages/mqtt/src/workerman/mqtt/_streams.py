"""Received messages for ``async for``: one bounded queue per iterator, with a filter.

A queue that reaches its bound makes the client stop reading from the socket until it
is half empty again, so a slow consumer slows the broker down (through TCP) instead of
growing memory without limit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from workerman.core import current_loop

from ._exceptions import MqttError
from ._message import Message
from ._topics import check_filter, matches, split_filter

__all__ = ["MessageStream"]


class MessageStream:
    """The messages the client receives (those matching ``topic_filter``, when given),
    in arrival order. Iterate it with ``async for``; ``close()`` (or leaving
    ``async with``) stops it. Made by :meth:`MqttClient.messages`.

    Iteration ends when the client is closed, and raises the error when the client
    lost its connection for good (``reconnect=False``).
    """

    def __init__(
        self,
        topic_filter: str | None,
        maxsize: int,
        on_full: Callable[[MessageStream], None],
        on_space: Callable[[MessageStream], None],
        on_close: Callable[[MessageStream], None],
    ) -> None:
        if topic_filter is not None:
            check_filter(topic_filter)
        if maxsize < 1:
            raise MqttError("a message stream holds at least one message")
        self.topic_filter = topic_filter
        self._levels = split_filter(topic_filter) if topic_filter is not None else None
        self.maxsize = maxsize
        self._queue: deque[Message] = deque()
        self._waiter: Any = None
        self._on_full = on_full
        self._on_space = on_space
        self._on_close = on_close
        self.full = False
        self._ended = False
        self._error: BaseException | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def accepts(self, message: Message) -> bool:
        levels = self._levels
        return levels is None or matches(levels, message.topic)

    def put(self, message: Message) -> None:
        self._queue.append(message)
        self._wake()
        if not self.full and len(self._queue) >= self.maxsize:
            self.full = True
            self._on_full(self)

    def end(self, error: BaseException | None = None) -> None:
        """No more messages: iteration stops (or raises ``error``) once the queue is empty."""
        if not self._ended:
            self._ended = True
            self._error = error
            self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> Message:
        queue = self._queue
        while not queue:
            if self._ended:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            waiter = self._waiter = current_loop().create_future()
            await waiter
        message = queue.popleft()
        if self.full and len(queue) <= self.maxsize // 2:
            self.full = False
            self._on_space(self)
        return message

    def get_nowait(self) -> Message | None:
        """The next message if one is queued, else None."""
        if not self._queue:
            return None
        message = self._queue.popleft()
        if self.full and len(self._queue) <= self.maxsize // 2:
            self.full = False
            self._on_space(self)
        return message

    def close(self) -> None:
        """Stop receiving into this stream; iteration ends after what is queued."""
        if not self._ended:
            self.end()
            self._on_close(self)
        if self.full:
            self.full = False
            self._on_space(self)

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> MessageStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # dropped without close(), e.g. after `break` out of `async for`: a stream nobody
        # reads any more must not hold reading paused
        if not self._ended:
            try:
                self.close()
            except Exception:  # the loop may be gone at interpreter exit
                pass
