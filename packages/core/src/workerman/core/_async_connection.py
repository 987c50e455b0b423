"""AsyncTcpConnection: an outgoing stream connection that can reconnect."""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Callable
from typing import Any

from ._address import Address, parse_address
from ._connection import CONNECT_FAIL, TcpConnection
from ._exceptions import ServerError
from ._loop import current_loop
from ._status_codes import CLOSED as _CLOSED
from ._status_codes import CLOSING as _CLOSING
from ._status_codes import CONNECTING as _CONNECTING
from ._status_codes import ESTABLISHED as _ESTABLISHED
from ._status_codes import INITIAL as _INITIAL

__all__ = ["AsyncTcpConnection"]


class AsyncTcpConnection(TcpConnection):
    """A connection this process dials, with the protocol its scheme names.

    ``AsyncTcpConnection("frame://127.0.0.1:9100")``, ``"tcp://host:port"``,
    ``"ssl://host:443"`` or ``"unix:///run/app.sock"``. Set the callbacks, then call
    :meth:`connect`. Data sent before the connection is up is queued (up to
    ``max_send_buffer_size``) and leaves once it is.

    Args:
        remote_address: where to connect, ``scheme://host:port`` or ``unix:///path``.
        ssl: an ``ssl.SSLContext``, or True for the system's default context
            (certificate and host name verified). ``ssl://`` implies True.
        server_hostname: the name to verify the certificate against (default: the host).
        connect_timeout: seconds before a connect attempt fails with CONNECT_FAIL.
    """

    __slots__ = (
        "_address",
        "_cancel_connect",
        "_pending_reconnect",
        "_reconnect_timer",
        "_ssl",
        "_stale",
        "connect_timeout",
    )

    def __init__(
        self,
        remote_address: str,
        *,
        ssl: ssl_module.SSLContext | bool | None = None,
        server_hostname: str | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        address = parse_address(remote_address)
        if address.transport == "udp":
            raise ServerError(f"{remote_address}: use AsyncUdpConnection for udp")
        super().__init__(None, address.protocol)
        if ssl is None and address.tls:
            ssl = True
        if ssl is True:
            ssl = ssl_module.create_default_context()
        self._ssl: tuple[ssl_module.SSLContext, str | None] | None = (
            (ssl, server_hostname or address.host or None)
            if isinstance(ssl, ssl_module.SSLContext)
            else None
        )
        self._address: Address = address
        self._cancel_connect: Callable[[], Any] | None = None
        self._reconnect_timer = 0
        #: the delay of a reconnect that waits for the connection to be gone
        self._pending_reconnect: float | None = None
        #: transports of connects that finished after a destroy(): their losses are not ours
        self._stale = 0
        self.connect_timeout = connect_timeout

    @property
    def remote_uri(self) -> str:
        """The address this connection dials, as given."""
        return self._address.text

    def connect(self) -> None:
        """Start connecting; ``on_connect`` or ``on_error(CONNECT_FAIL)`` follows."""
        if self._status not in (_INITIAL, _CLOSING, _CLOSED):
            return
        loop = current_loop()  # raises before any state changes when no loop runs
        self._set_status(_CONNECTING)
        self._unsent = False
        self.bytes_read = 0
        self._handed = 0
        address = self._address
        context, hostname = self._ssl if self._ssl is not None else (None, None)
        self._cancel_connect = loop.connect_stream(  # type: ignore[attr-defined]
            self,
            address.host,
            address.port,
            address.path,
            context,
            hostname,
            self.connect_timeout,
        )

    def reconnect(self, after: float = 0) -> None:
        """Connect again, ``after`` seconds from now. A live connection is closed first
        (``on_close`` runs), and the new attempt starts once it is gone."""
        loop = current_loop()
        if self._reconnect_timer:
            loop.cancel(self._reconnect_timer)
            self._reconnect_timer = 0
        if self._status in (_CONNECTING, _ESTABLISHED):
            self._pending_reconnect = after
            self.destroy()
            return
        self._pending_reconnect = None
        if self._status == _CLOSING:
            self._pending_reconnect = after
            return
        if after > 0:
            self._set_status(_INITIAL)  # not connected yet: sends queue until it is
            self._reconnect_timer = loop.delay(after, self._reconnect_now)
        else:
            self.connect()

    def _reconnect_now(self) -> None:
        self._reconnect_timer = 0
        self.connect()

    def cancel_reconnect(self) -> None:
        """Cancel a reconnect scheduled with ``after``."""
        self._pending_reconnect = None
        if self._reconnect_timer:
            current_loop().cancel(self._reconnect_timer)
            self._reconnect_timer = 0
            if self._status == _INITIAL:
                self._set_status(_CLOSED)

    def destroy(self) -> None:
        if self._status == _INITIAL and self._reconnect_timer:
            # waiting to reconnect: the connection already closed once; just stop waiting
            self.cancel_reconnect()
            self._batch = None
            self._batch_size = 0
            return
        super().destroy()

    def _abandon_connect(self) -> None:
        cancel, self._cancel_connect = self._cancel_connect, None
        if cancel is not None:
            cancel()

    def _connect_failed(self, exc: BaseException) -> None:
        self._cancel_connect = None
        if self._status != _CONNECTING:
            return
        self._set_status(_CLOSING)
        detail = str(exc) or type(exc).__name__
        self.notify_error(CONNECT_FAIL, f"connect {self._address} failed: {detail}")
        if self._status == _CLOSING:  # on_error did not reconnect
            self._set_status(_CLOSED)
            self._batch = None
            self._batch_size = 0
            self._closed()

    def connection_made(self, transport: Any) -> None:
        self._cancel_connect = None
        if self._status != _CONNECTING:  # destroyed while the connect was finishing
            self._stale += 1
            transport.abort()
            return
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stale:
            self._stale -= 1
            return
        super().connection_lost(exc)

    def _closed(self) -> None:
        super()._closed()
        after = self._pending_reconnect
        if after is not None and self._status == _CLOSED:
            self._pending_reconnect = None
            self.reconnect(after)

    def describe(self, what: str) -> str:
        return f"{what} of connection {self.id} to {self._address}"

    @property
    def remote_host(self) -> str:
        """The host this connection dials, as given (a name or an address)."""
        return self._address.host

    @property
    def remote_path(self) -> str:
        """The path and query of the address dialled (``/chat?room=1`` of
        ``ws://host/chat?room=1``)."""
        return self._address.target or "/"
