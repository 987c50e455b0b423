"""Where a connection is in its life: the one definition of connection states."""

from __future__ import annotations

import enum

__all__ = ["CLOSED", "CLOSING", "CONNECTING", "ESTABLISHED", "INITIAL", "ConnectionStatus"]


class ConnectionStatus(enum.IntEnum):
    """Where a connection is in its life; the values are Workerman's. States only move
    forward, so ``status >= ConnectionStatus.CLOSING`` means "reads and sends no more"."""

    INITIAL = 0
    CONNECTING = 1
    ESTABLISHED = 2
    CLOSING = 4
    CLOSED = 8


INITIAL = ConnectionStatus.INITIAL
CONNECTING = ConnectionStatus.CONNECTING
ESTABLISHED = ConnectionStatus.ESTABLISHED
CLOSING = ConnectionStatus.CLOSING
CLOSED = ConnectionStatus.CLOSED
