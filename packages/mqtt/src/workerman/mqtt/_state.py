"""What the parts of the client share: its settings and state, declared once so the
publishing and receiving halves (separate modules) can use them."""

from __future__ import annotations

import abc
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workerman.core import current_loop

from ._engine import Engine
from ._message import Message
from ._pending import Pending
from ._socket import Transport
from ._statistics import Statistics
from ._streams import MessageStream
from ._subscriptions import SubscriptionBook

if TYPE_CHECKING:
    from ._publishing import Publish

__all__ = ["ClientState"]


class ClientState(abc.ABC):
    protocol: int
    timeout: float | None
    max_queued_messages: int
    max_buffered_messages: int
    on_message: Callable[[Message], Any] | None
    statistics: Statistics
    _state: str
    _engine: Engine | None
    _transport: Transport | None
    _window: int
    _backlog: deque[Publish]
    _inflight: dict[int, Publish]
    _book: SubscriptionBook
    _handlers: list[tuple[tuple[str, ...], Callable[[Message], Any]]]
    _streams: list[weakref.ref[MessageStream]]
    _full_streams: set[int]
    _reading_paused: bool
    _drain_scheduled: bool
    _connect_waiters: list[Pending]

    @property
    def connected(self) -> bool:
        """True while a connection is up and its CONNACK accepted."""
        return self._state == "connected"

    def _deadline(self, timeout: float | None) -> float:
        return current_loop().time() + timeout if timeout is not None else 0.0

    @abc.abstractmethod
    def _check_loop(self) -> None:
        """Start over when the loop the connection belongs to has ended."""

    @abc.abstractmethod
    def _on_input(self) -> None:
        """Feed paho what the socket received."""
