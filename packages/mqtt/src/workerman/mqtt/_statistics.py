"""Counters of one client, for ``status`` and for monitoring."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Statistics"]


@dataclass
class Statistics:
    connect_attempts: int = 0
    connects: int = 0
    reconnects: int = 0
    connection_losses: int = 0
    published: int = 0
    acknowledged: int = 0
    received: int = 0
    resubscribed: int = 0
    queue_full: int = 0
    read_pauses: int = 0
    bad_messages: int = 0

    def snapshot(self) -> dict[str, object]:
        return asdict(self)
