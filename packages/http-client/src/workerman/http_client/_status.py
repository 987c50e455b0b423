"""The pool counts of every live client, for the core's ``status`` (one line per process)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from workerman.core import register_status

if TYPE_CHECKING:
    from ._client import HttpClient

__all__ = ["status_report", "track"]

_live: weakref.WeakSet[HttpClient] = weakref.WeakSet()
_unregister: Callable[[], None] | None = None


def track(client: HttpClient) -> None:
    """Count ``client``'s pool in this process's ``status`` (one line for all clients)."""
    global _unregister
    _live.add(client)
    if _unregister is None:
        _unregister = register_status("http_client", status_report)


def status_report() -> dict[str, object]:
    """Per origin, over every live client: ``idle:N,in_use:N,waiting:N``."""
    totals: dict[str, list[int]] = {}
    for client in list(_live):
        for origin, counts in client.stats().items():
            row = totals.setdefault(origin, [0, 0, 0])
            row[0] += counts["idle"]
            row[1] += counts["in_use"]
            row[2] += counts["waiting"]
    return {
        origin: f"idle:{idle},in_use:{in_use},waiting:{waiting}"
        for origin, (idle, in_use, waiting) in sorted(totals.items())
    }
