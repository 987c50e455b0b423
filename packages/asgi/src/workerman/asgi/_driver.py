"""The driver of :mod:`._eager`'s hosts: a generator-based coroutine that runs the app calls
sent to it with ``yield from``. It stays pure Python when ``_eager`` is compiled: only an
interpreted generator flagged by ``types.coroutine`` may ``yield from`` a coroutine."""

from __future__ import annotations

import types
from collections.abc import Generator
from typing import Any

__all__ = ["DONE", "primed"]

#: what a driver yields when the call it drives has returned
DONE: Any = object()


@types.coroutine
def _driver() -> Generator[Any, Any, None]:
    """Runs the app calls sent to it one after the other, each through ``yield from`` (what
    the call yields goes out, what is sent or thrown goes in), and yields ``DONE`` when
    one returns: a call that ends in its first step costs no StopIteration. A call that
    raises ends the driver."""
    call = yield None
    while True:
        yield from call
        call = yield DONE


def primed() -> Generator[Any, Any, None]:
    driver = _driver()
    driver.send(None)
    return driver
