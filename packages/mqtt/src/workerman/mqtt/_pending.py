"""A request waiting for its answer: a future to await, or a callback to call."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Generator
from typing import Any

from workerman.core import current_loop

__all__ = ["DONE", "Callback", "Pending", "call_user"]

logger = logging.getLogger("workerman.mqtt")

Callback = Callable[[Any, BaseException | None], Any]


class _Done:
    """An awaitable that is already finished: what a QoS 0 publish that went straight to
    the socket's buffer returns, so awaiting it costs no future and no loop turn."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # makes this a generator

    def __repr__(self) -> str:
        return "<done>"


DONE = _Done()


class Pending:
    """One answer for one caller: ``future`` to await, or ``callback(result, error)``."""

    __slots__ = ("callback", "deadline", "future")

    def __init__(self, callback: Callback | None, deadline: float = 0.0) -> None:
        self.callback = callback
        self.future = None if callback is not None else current_loop().create_future()
        self.deadline = deadline

    @property
    def awaitable(self) -> Any:
        return self.future

    def resolve(self, result: Any) -> None:
        if self.callback is not None:
            callback, self.callback = self.callback, None
            call_user(callback, result, None)
        elif self.future is not None and not self.future.done():
            self.future.set_result(result)

    def fail(self, error: BaseException) -> None:
        if self.callback is not None:
            callback, self.callback = self.callback, None
            call_user(callback, None, error)
        elif self.future is not None and not self.future.done():
            self.future.set_exception(error)


def call_user(callback: Callable[..., Any], *args: Any) -> None:
    """Call a user's callback; log what it raises, run what it returns if awaitable."""
    try:
        result = callback(*args)
    except Exception:
        logger.exception("an MQTT callback raised")
        return
    if result is not None and inspect.isawaitable(result):
        current_loop().spawn_awaitable(result, lambda: "an MQTT callback")
