"""The stream-protocol contract: a protocol that keeps state per connection.

Workerman's codec contract (``input``/``decode``/``encode``) cuts a byte stream into
packages one at a time and keeps nothing between them. HTTP, WebSocket, an MQTT broker
or a Socket.IO engine keep state per connection (a request in progress, a handshake,
a session) and decide themselves what a read means. They subclass
:class:`StreamProtocol`: the connection makes one instance per connection and tells it
what happens; the instance asks the connection for what it needs through the
connection's protocol-side methods (:meth:`~workerman.core.TcpConnection.hold`,
``release``, ``keep``, ``write``, ``deliver``, ``linger``, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from mypy_extensions import mypyc_attr

if TYPE_CHECKING:
    from ._connection import TcpConnection

__all__ = ["StreamProtocol"]


@mypyc_attr(allow_interpreted_subclasses=True)  # every protocol with state subclasses it
class StreamProtocol:
    """Base class of a protocol with per-connection state.

    Use the class where a codec goes (``Worker(..., protocol=MyProtocol)``,
    ``register_protocol("my", MyProtocol)``); each connection then gets
    ``MyProtocol(connection)`` as its ``connection.protocol_state``, and the connection
    calls, in order:

    - :meth:`connection_made` once the connection is up (a protocol that speaks first
      writes here; a reconnecting client connection calls it again on the same instance);
    - :meth:`data_received` for every read, with the bytes kept by :meth:`keep
      <workerman.core.TcpConnection.keep>` put in front;
    - :meth:`send` for every ``connection.send(message)``;
    - :meth:`drained` when a full send buffer has emptied;
    - :meth:`closing` when ``connection.close()`` is called (a last write may go out);
    - :meth:`draining` when the worker begins a graceful stop;
    - :meth:`eof_received` when the peer ends its side while the connection is held;
    - :meth:`connection_lost` when the connection is gone.

    Settings of the protocol are class attributes; a subclass with other values is the
    protocol of the workers that use it. Instances should use ``__slots__``.
    """

    __slots__ = ("connection",)

    #: keep reading while the connection is held, until bytes arrive (they are kept, and
    #: reading pauses then), so that a peer leaving in the meantime is seen
    #: (:meth:`eof_received`). False: a hold stops reading at once.
    watch_eof: ClassVar[bool] = False

    def __init__(self, connection: TcpConnection) -> None:
        self.connection = connection

    def connection_made(self) -> None:
        """The connection is up."""

    def data_received(self, data: bytes) -> None:
        """Bytes arrived (after what was kept). Call ``connection.deliver(message)`` for
        each whole message, ``connection.keep(rest)`` for an incomplete tail, and
        ``connection.protocol_error(reason)`` (or answer and ``linger``) for garbage.

        The default delivers the bytes as they come, like a connection with no protocol.
        """
        self.connection.deliver(data)

    def encode(self, message: Any) -> bytes:
        """The bytes of ``message``; the default takes bytes as they are and str as UTF-8."""
        if isinstance(message, str):
            return message.encode()
        if isinstance(message, bytes | bytearray | memoryview):
            return bytes(message)
        raise TypeError(f"{type(self).__name__} sends str or bytes, not {type(message).__name__}")

    def send(self, message: Any) -> bool | None:
        """What ``connection.send(message)`` does; the default writes ``encode(message)``.

        Returns what :meth:`TcpConnection.write <workerman.core.TcpConnection.write>`
        returns: True (written), None (queued) or False (refused).
        """
        return self.connection.write(self.encode(message))

    def drained(self) -> None:
        """The send buffer, full before, has emptied."""

    def recv_buffered(self) -> int:
        """Bytes received that the protocol holds itself, not decoded into a message yet
        (``connection.recv_buffer_size`` counts them with what the connection keeps)."""
        return 0

    def closing(self) -> None:
        """``connection.close()`` was called; what is written now still goes out."""

    def draining(self) -> None:
        """The worker is stopping gracefully (``stop -g``, ``reload -g``): finish what is
        in progress and close when done. The default leaves the connection to the
        application, as Workerman does for long connections; HTTP closes an idle
        keep-alive connection at once and ends the current response with a close."""

    def eof_received(self) -> None:
        """The peer ended its side (a FIN) while the connection is held: it sends no more,
        and the connection closes once released. Seen at once with :attr:`watch_eof`;
        otherwise only when something else was being read."""

    def connection_lost(self) -> None:
        """The connection is gone: stop timers, release resources."""


def is_stream_protocol(protocol: Any) -> bool:
    """Whether ``protocol`` (a worker's or connection's) is a StreamProtocol class."""
    return isinstance(protocol, type) and issubclass(protocol, StreamProtocol)


async def guarded(awaitable: Any, failed: Callable[[Exception], Any]) -> None:
    """Await ``awaitable``; hand what it raises to ``failed``."""
    try:
        await awaitable
    except Exception as exc:
        failed(exc)


class Discard(StreamProtocol):
    """A lingering connection's protocol: input is dropped; the protocol it replaced
    still hears of drains and the end."""

    __slots__ = ("previous",)

    def __init__(self, connection: TcpConnection, previous: StreamProtocol | None) -> None:
        super().__init__(connection)
        self.previous = previous

    def data_received(self, data: bytes) -> None:
        return None

    def send(self, message: Any) -> bool | None:
        return False

    def drained(self) -> None:
        if self.previous is not None:
            self.previous.drained()

    def connection_lost(self) -> None:
        if self.previous is not None:
            self.previous.connection_lost()
