"""Calling user callbacks: plain ones inline, async ones as tasks, errors logged and survived."""

from __future__ import annotations

import inspect
import logging
import time
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


_accept_log = {"last": 0.0, "quiet": 0}


def accept_failed(exc: OSError) -> None:
    """Count an accept() failure (EMFILE and kin); log it at most once a second."""
    statistics.accept_errors += 1
    now = time.monotonic()
    if now - _accept_log["last"] < 1.0:
        _accept_log["quiet"] += 1
        return
    quiet = int(_accept_log["quiet"])
    _accept_log["last"], _accept_log["quiet"] = now, 0
    more = f" ({quiet} more since the last report)" if quiet else ""
    logger.warning("accept() failed: %s; backing off before accepting again%s", exc, more)
