"""Where a connection is in its life: the one definition of connection states."""

from __future__ import annotations

import enum
from typing import Final

__all__ = [
    "BY_VALUE",
    "CLOSED",
    "CLOSING",
    "CONNECTING",
    "ESTABLISHED",
    "INITIAL",
    "ConnectionStatus",
]


# The values as plain ints, for the connection's own bookkeeping: an int compares faster
# than an IntEnum member on the per-message path, and a Final literal is a constant in
# the compiled modules (a name imported from this module, which is not compiled, would
# be looked up in its namespace at every use).
INITIAL: Final = 0
CONNECTING: Final = 1
ESTABLISHED: Final = 2
CLOSING: Final = 4
CLOSED: Final = 8


class ConnectionStatus(enum.IntEnum):
    """Where a connection is in its life; the values are Workerman's. States only move
    forward, so ``status >= ConnectionStatus.CLOSING`` means "reads and sends no more"."""

    INITIAL = INITIAL
    CONNECTING = CONNECTING
    ESTABLISHED = ESTABLISHED
    CLOSING = CLOSING
    CLOSED = CLOSED


#: ConnectionStatus by value
BY_VALUE = {int(status): status for status in ConnectionStatus}
