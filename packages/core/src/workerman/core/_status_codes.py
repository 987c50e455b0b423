"""Where a connection is in its life: the one definition of connection states."""

from __future__ import annotations

import enum

__all__ = [
    "BY_VALUE",
    "CLOSED",
    "CLOSING",
    "CONNECTING",
    "ESTABLISHED",
    "INITIAL",
    "ConnectionStatus",
]


class ConnectionStatus(enum.IntEnum):
    """Where a connection is in its life; the values are Workerman's. States only move
    forward, so ``status >= ConnectionStatus.CLOSING`` means "reads and sends no more"."""

    INITIAL = 0
    CONNECTING = 1
    ESTABLISHED = 2
    CLOSING = 4
    CLOSED = 8


# The same values as plain ints, for the connection's own bookkeeping: an int compares
# faster than an IntEnum member on the per-message path.
INITIAL = int(ConnectionStatus.INITIAL)
CONNECTING = int(ConnectionStatus.CONNECTING)
ESTABLISHED = int(ConnectionStatus.ESTABLISHED)
CLOSING = int(ConnectionStatus.CLOSING)
CLOSED = int(ConnectionStatus.CLOSED)
#: ConnectionStatus by value
BY_VALUE = {int(status): status for status in ConnectionStatus}
