"""Per-process counters: what `status` shows for each worker process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

__all__ = ["Statistics", "component_reports", "register_status", "statistics"]

logger = logging.getLogger("workerman.core")

_reports: dict[str, Callable[[], Mapping[str, object]]] = {}
# What is open now, told by the layers above (counters know nothing of connections or
# loops): the open connections, and how many timers wait.
_sources: dict[str, Callable[[], Any]] = {"connections": tuple, "timers": int}


def count_from(
    connections: Callable[[], Iterable[Any]] | None = None,
    timers: Callable[[], int] | None = None,
) -> None:
    """Where :meth:`Statistics.snapshot` finds open connections and pending timers."""
    if connections is not None:
        _sources["connections"] = connections
    if timers is not None:
        _sources["timers"] = timers


def register_status(name: str, report: Callable[[], Mapping[str, object]]) -> Callable[[], None]:
    """Add a component's figures to ``status``: each worker process that has ``name``
    registered shows a line ``name: key=value ...`` from ``report()`` under its row.

    ``report`` is called when ``status`` asks (in the worker process, on its loop) and must
    be quick. Registering a name again replaces the report. Returns a function that
    removes it.

    Example::

        unregister = register_status("mqtt", lambda: {"inflight": len(client.inflight)})
    """
    _reports[name] = report

    def unregister() -> None:
        if _reports.get(name) is report:
            del _reports[name]

    return unregister


def component_reports() -> dict[str, dict[str, str]]:
    """What every registered report says now; a report that raises shows its error."""
    out: dict[str, dict[str, str]] = {}
    for name, report in list(_reports.items()):
        try:
            out[name] = {str(key): str(value) for key, value in report().items()}
        except Exception as exc:
            logger.exception("status report %r raised", name)
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


class Statistics:
    """Process-wide counters, updated in place by connections and workers.

    Attributes:
        connection_count: connections open now (accepted and outgoing).
        total_request: messages decoded and handed to ``on_message``.
        send_fail: sends refused (buffer full, peer gone) or failed mid-write.
        throw_exception: exceptions raised by user callbacks (logged, then survived).
        protocol_errors: connections closed because their bytes broke the protocol or a limit.
        timeouts: connections closed by a deadline: idle, a head or body that came too
            slowly, a peer that took nothing of its send buffer, a graceful stop's end.
        accept_errors: accept() failures (EMFILE and kin) that made the listener back off.
        bytes_read / bytes_written: bytes of connections already closed; see :meth:`snapshot`
            for totals that include open connections.
    """

    __slots__ = (
        "accept_errors",
        "bytes_read",
        "bytes_written",
        "connection_count",
        "protocol_errors",
        "send_fail",
        "throw_exception",
        "timeouts",
        "total_request",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Set every counter back to zero."""
        self.connection_count = 0
        self.total_request = 0
        self.send_fail = 0
        self.throw_exception = 0
        self.protocol_errors = 0
        self.accept_errors = 0
        self.timeouts = 0
        self.bytes_read = 0
        self.bytes_written = 0

    def snapshot(self) -> dict[str, Any]:
        """The counters now, with byte totals of open connections and the timer count."""
        read = self.bytes_read
        written = self.bytes_written
        for conn in _sources["connections"]():
            read += conn.bytes_read
            written += conn.bytes_written
        return {
            "connections": self.connection_count,
            "total_request": self.total_request,
            "send_fail": self.send_fail,
            "throw_exception": self.throw_exception,
            "protocol_errors": self.protocol_errors,
            "accept_errors": self.accept_errors,
            "timeouts": self.timeouts,
            "bytes_read": read,
            "bytes_written": written,
            "timers": _sources["timers"](),
        }


statistics: Final = Statistics()  # Final: a constant where compiled, not a look-up
