"""The errors of workerman.asgi."""

from __future__ import annotations

from workerman.core import WorkermanError

__all__ = ["AsgiError", "ClientDisconnected", "LifespanError"]


class AsgiError(WorkermanError):
    """Base of this package's errors."""


class ClientDisconnected(AsgiError, OSError):
    """``send()`` was awaited after the client went away (ASGI 2.4: an ``OSError``)."""


class LifespanError(AsgiError):
    """The app's lifespan startup or shutdown failed (``lifespan.*.failed``, or it raised
    with ``lifespan="on"``)."""
