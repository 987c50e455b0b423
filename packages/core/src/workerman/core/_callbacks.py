"""Calling user callbacks: plain ones inline, async ones as tasks, errors logged and survived."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from ._statistics import statistics

logger = logging.getLogger("workerman.core")


def report(where: str, exc: BaseException) -> None:
    """Log an exception a user callback raised, count it, and carry on."""
    statistics.throw_exception += 1
    logger.error("%s raised %s: %s", where, type(exc).__name__, exc, exc_info=exc)


def invoke(fn: Callable[..., Any], args: tuple[Any, ...], where: Callable[[], str]) -> Any:
    """Call ``fn(*args)``; an awaitable result is run as a task on the current loop.

    ``where`` builds the log context only when something goes wrong.
    Returns the awaitable it spawned (or None), so callers can tell.
    """
    try:
        result = fn(*args)
    except Exception as exc:
        report(where(), exc)
        return None
    if result is not None and inspect.isawaitable(result):
        from ._loop import current_loop

        current_loop().spawn_awaitable(result, where)
        return result
    return None
