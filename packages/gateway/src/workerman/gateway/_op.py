"""Op: a request already on its way to Redis, awaited for its result.

Sends and queries are written to the gateway's Redis connection when they are called, not
when they are awaited: ``gateway.send_to_uid("bob", "hi")`` in a plain callback sends, and
calls made one after another leave in that order on the one connection. Awaiting an Op
gives the result, with Redis's errors translated to the gateway's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any

from workerman.core import Future, current_loop

from ._exceptions import translate

__all__ = ["Op", "await_or_call", "script_future"]


def await_or_call(
    work: Awaitable[Any], callback: Callable[[Any, BaseException | None], Any] | None
) -> Any:
    """``work`` to await, or (with ``callback``) run as a task that calls
    ``callback(result, error)``: the two styles of every gateway and channel call."""
    if callback is None:
        return work
    done = callback

    async def task() -> None:
        try:
            result = await work
        except Exception as exc:
            done(None, exc)
            return
        done(result, None)

    current_loop().spawn(task)
    return None


class Op:
    """One or more replies still to come, and what makes the result of them."""

    __slots__ = ("_convert", "_futures")

    def __init__(self, futures: list[Any], convert: Callable[[list[Any]], Any]) -> None:
        self._futures = futures
        self._convert = convert

    def __await__(self) -> Generator[Any, None, Any]:
        results: list[Any] = []
        error: BaseException | None = None
        for future in self._futures:  # every reply is awaited, even after a failure
            try:
                results.append((yield from future.__await__()))
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise translate(error) from error
        return self._convert(results)


def script_future(script: Any, args: tuple[Any, ...]) -> Future:
    """Run a Script now (EVALSHA, EVAL on NOSCRIPT) and return the future of its reply."""
    future = current_loop().create_future()

    def done(result: Any, error: BaseException | None) -> None:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    script(args=args, callback=done)
    return future
