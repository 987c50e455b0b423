"""One HTTP/1.1 connection: a TCP (or TLS) connection of the core carrying one exchange
at a time, the parser of its responses, and its place in the pool."""

from __future__ import annotations

import logging
import ssl as ssl_module
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from workerman.core import CONNECT_FAIL, AsyncTcpConnection, Future

from ._exceptions import (
    ConnectError,
    ConnectTimeout,
    HttpClientError,
    LimitError,
    NetworkError,
    ProtocolError,
    ProxyError,
    WriteTimeout,
)
from ._exchange import READING, Exchange
from ._parser import END, ResponseHead, ResponseParser
from ._proxy import Tunnel
from ._settings import Limits
from ._tls import TlsLayer

if TYPE_CHECKING:
    from ._pool import Pool, PoolKey

__all__ = ["HttpConnection", "StaleConnection"]

logger = logging.getLogger("workerman.http_client")

CONNECTING, IDLE, ACTIVE, CLOSED = range(4)
_DRAIN_AT = 256 * 1024  # a streamed request body waits for the socket above this


class StaleConnection(NetworkError):
    """A reused connection that the server had closed: nothing of a response came back,
    so an idempotent request may be sent again on another connection."""


class HttpConnection:
    """Requests out and responses in, one after the other, over one connection."""

    __slots__ = (
        "_connect_error",
        "_connect_timer",
        "_drain",
        "_held",
        "_hold_timer",
        "_layered",
        "_tls",
        "_tunnel",
        "_watch",
        "_watch_at",
        "exchange",
        "idle_since",
        "key",
        "loop",
        "parser",
        "pool",
        "ready",
        "served",
        "state",
        "tcp",
    )

    def __init__(
        self,
        pool: Pool,
        key: PoolKey,
        host: str,
        port: int,
        ssl_context: ssl_module.SSLContext | None,
        server_hostname: str | None,
        limits: Limits,
        connect_timeout: float | None,
        tunnel: Callable[[], Tunnel] | None = None,
        layered_tls: tuple[ssl_module.SSLContext, str] | None = None,
    ) -> None:
        self.pool = pool
        self._tunnel = tunnel() if tunnel is not None else None  # a proxy's handshake
        self._layered = layered_tls  # TLS to the origin inside the tunnel
        self._tls: TlsLayer | None = None
        self._held: bytes | None = None  # a body waiting for 100 Continue
        self._hold_timer = 0
        self.key = key
        self.parser = ResponseParser(limits.max_head_size, limits.max_headers)
        self.exchange: Exchange | None = None
        self.served = 0
        self.state = CONNECTING
        self.idle_since = 0.0
        self._drain: Future | None = None
        self._watch = 0  # the watchdog timer
        self._watch_at = 0.0
        self._connect_error: HttpClientError | None = None
        loop = self.loop = pool.loop
        self.ready: Future = loop.create_future()
        address = f"[{host}]" if ":" in host else host
        tcp = AsyncTcpConnection(
            f"tcp://{address}:{port}",
            ssl=ssl_context,
            server_hostname=server_hostname,
            connect_timeout=(connect_timeout or 86400.0) + 1.0,  # ours below fires first
        )
        tcp.max_send_buffer_size = 64 * 1024 * 1024
        tcp.on_connect = self._on_connect
        tcp.on_message = self._on_data
        tcp.on_error = self._on_error
        tcp.on_close = self._on_close
        tcp.on_buffer_drain = self._on_drain
        self.tcp = tcp
        self._connect_timer = (
            loop.delay(connect_timeout, self._connect_late) if connect_timeout is not None else 0
        )
        tcp.connect()

    # -- connecting --------------------------------------------------------------------

    def _on_connect(self, tcp: AsyncTcpConnection) -> None:
        if self._tunnel is not None:
            tcp.send(self._tunnel.start(), raw=True)
        elif self._layered is not None:
            self._start_tls(b"")
        else:
            self._ready()

    def _ready(self) -> None:
        self._cancel_connect_timer()
        self.state = IDLE
        self.ready.set_result(self)

    def _setup(self, data: bytes) -> None:
        """Bytes while opening: the proxy's handshake, then TLS inside the tunnel."""
        tunnel = self._tunnel
        if tunnel is not None:
            try:
                out, done, rest = tunnel.feed(data)
            except ProxyError as exc:
                self._fail_connect(exc)
                return
            if out:
                self.tcp.send(out, raw=True)
            if not done:
                return
            self._tunnel = None
            if self._layered is not None:
                self._start_tls(rest)
            elif rest:
                self._fail_connect(ProxyError("the proxy sent bytes before the request"))
            else:
                self._ready()
            return
        if self._tls is not None:
            self._start_tls(data)

    def _start_tls(self, data: bytes) -> None:
        if self._tls is None:
            assert self._layered is not None
            context, hostname = self._layered
            self._tls = TlsLayer(context, hostname)
        try:
            out = self._tls.handshake(data)
        except ssl_module.SSLError as exc:
            self._fail_connect(ConnectError(f"TLS handshake failed: {exc}"))
            return
        if out:
            self.tcp.send(out, raw=True)
        if self._tls.done:
            self._ready()

    def _write(self, data: bytes) -> bool | None:
        tls = self._tls
        if tls is not None:
            data = tls.encrypt(data)
        return self.tcp.send(data, raw=True)

    def _connect_late(self) -> None:
        self._connect_timer = 0
        if self.state == CONNECTING:
            self._fail_connect(ConnectTimeout("the connection did not open in time"))

    def _on_error(self, tcp: AsyncTcpConnection, code: int, message: str) -> None:
        if code == CONNECT_FAIL:
            self._connect_error = ConnectError(message)

    def _fail_connect(self, error: HttpClientError) -> None:
        self._cancel_connect_timer()
        self.state = CLOSED
        self.tcp.on_close = None
        self.tcp.destroy()
        self.ready.set_exception(error)
        self.pool.discard(self)

    def _cancel_connect_timer(self) -> None:
        if self._connect_timer:
            self.loop.cancel(self._connect_timer)
            self._connect_timer = 0

    # -- an exchange -------------------------------------------------------------------

    def start(
        self, exchange: Exchange, method: bytes, head: bytes, body: bytes, hold: bool = False
    ) -> None:
        """Send a request (the head, and the body when it is bytes; with ``hold``, the
        body waits for the server's 100 Continue, or a second)."""
        self.state = ACTIVE
        if hold:
            self._held, body = body, b""
            self._hold_timer = self.loop.delay(1.0, self._send_held)
        self.exchange = exchange
        exchange.conn = self
        self.parser.expect(method)
        tcp = self.tcp
        if self._tls is not None:
            sent = self._write(head + body if body else head)
        elif len(body) > 65536:
            tcp.send(head, raw=True)
            sent = tcp.send(body, raw=True)
        else:
            sent = tcp.send(head + body if body else head, raw=True)
        if sent is False:
            self.abort(NetworkError("the request could not be sent: the connection is closing"))
        elif sent or tcp.send_buffer_size < _DRAIN_AT:
            exchange.start_reading()
        else:
            exchange.start_writing()
            self.loop.spawn_awaitable(self._wait_written(exchange), lambda: "request write")

    async def _wait_written(self, exchange: Exchange) -> None:
        try:
            await self.wait_drained(exchange)
        except HttpClientError:
            return
        if exchange.conn is self:
            exchange.start_reading()

    async def send_stream(self, exchange: Exchange, chunks: AsyncIterator[bytes]) -> None:
        """Send a chunked body from ``chunks``, waiting for the socket as it fills."""
        tcp = self.tcp
        try:
            await self._send_chunks(exchange, chunks, tcp)
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()

    async def _send_chunks(
        self, exchange: Exchange, chunks: AsyncIterator[bytes], tcp: AsyncTcpConnection
    ) -> None:
        async for chunk in chunks:
            if exchange.conn is not self:
                break  # the server answered early, or the exchange failed
            if chunk:
                self._write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                exchange.last_activity = self.loop.time()
                if tcp.send_buffer_size >= _DRAIN_AT:
                    await self.wait_drained(exchange)
        if exchange.conn is self:
            self._write(b"0\r\n\r\n")
            exchange.start_reading()

    async def wait_drained(self, exchange: Exchange) -> None:
        """Wait until the send buffer is below the mark (or the exchange ends)."""
        loop = self.loop
        write_timeout = exchange.timeout.write
        while exchange.conn is self and self.tcp.send_buffer_size >= _DRAIN_AT:
            written = self.tcp.bytes_written
            drain = self._drain = loop.create_future()
            # a poll beside the drain callback: the buffer may also empty while we look away
            timer = loop.delay(min(0.2, write_timeout or 0.2), drain.set_result, None)
            try:
                await drain
            finally:
                loop.cancel(timer)
                self._drain = None
            if self.tcp.bytes_written != written:
                exchange.last_activity = loop.time()
            elif write_timeout is not None and loop.time() - exchange.last_activity > write_timeout:
                exchange.abort(
                    WriteTimeout(f"the server took no request bytes for {write_timeout}s")
                )
        if exchange.error is not None:
            raise exchange.error

    def watch(self, due: float) -> None:
        """Look at the exchange at ``due`` at the latest (it decides whether it is late)."""
        if self._watch:
            if self._watch_at <= due + 0.001:
                return  # fires soon enough, and looks again then
            self.loop.cancel(self._watch)
        loop = self.loop
        self._watch_at = due
        self._watch = loop.delay(max(0.0, due - loop.time()), self._check)

    def _check(self) -> None:
        self._watch = 0
        exchange = self.exchange
        if exchange is None:
            return
        loop = self.loop
        now = loop.time()
        wait = exchange.overdue(now)
        if wait is not None and self.exchange is exchange:
            self._watch_at = now + wait
            self._watch = loop.delay(wait, self._check)

    def _stop_watch(self) -> None:
        if self._watch:
            self.loop.cancel(self._watch)
            self._watch = 0

    def _send_held(self) -> None:
        self._hold_timer = 0
        body, self._held = self._held, None
        if body is not None and self.exchange is not None:
            self._write(body)

    def _drop_held(self, head: ResponseHead) -> None:
        """A final answer came before the 100: the body is never sent, and since the server
        may still wait for it, the connection cannot carry another request."""
        if self._hold_timer:
            self.loop.cancel(self._hold_timer)
            self._hold_timer = 0
        self._held = None
        head.keep_alive = False

    def _on_drain(self, tcp: AsyncTcpConnection) -> None:
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def _on_data(self, tcp: AsyncTcpConnection, data: bytes) -> None:
        if self.state == CONNECTING:
            self._setup(data)
            return
        tls = self._tls
        if tls is not None:
            try:
                data, out = tls.decrypt(data)
            except ssl_module.SSLError as exc:
                self.abort(NetworkError(f"TLS error: {exc}"))
                return
            if out:
                tcp.send(out, raw=True)
            if not data:
                return
        exchange = self.exchange
        if exchange is None:
            logger.warning("%s sent %d bytes nobody asked for; closing", self.key, len(data))
            self.close()
            return
        exchange.last_activity = self.loop.time()
        try:
            events = self.parser.feed(data)
        except (ProtocolError, LimitError) as exc:
            self.abort(exc)
            return
        try:
            self._deliver(exchange, events)
        except Exception as exc:  # a bug of ours: fail the request now, not at its timeout
            logger.exception("handling a response from %s failed", self.key)
            self.abort(exc)

    def _deliver(self, exchange: Exchange, events: list[object]) -> None:
        for event in events:
            if event is END:
                self._finish(exchange)
                return
            if type(event) is bytes:
                exchange.on_data(event)
                if exchange.conn is not self:
                    return  # over a limit: aborted
            else:
                assert isinstance(event, ResponseHead)
                if event.status >= 200:
                    if self._held is not None:
                        self._drop_held(event)
                    exchange.on_head(event)
                else:
                    if exchange.informational is None:
                        exchange.informational = []
                    exchange.informational.append(event)
                    if event.status == 100 and self._held is not None:
                        if self._hold_timer:
                            self.loop.cancel(self._hold_timer)
                        self._send_held()

    def _finish(self, exchange: Exchange) -> None:
        if self.parser.unread:
            self.abort(
                ProtocolError("the response was followed by more bytes than its framing allows")
            )
            return
        head = self.parser.head
        # an answer that came before the whole body left: what is still to come of the
        # body would be read as the next request, so the connection goes
        keep = head is not None and head.keep_alive and exchange.phase == READING
        self.exchange = None
        self.served += 1
        self.state = IDLE
        exchange.on_end()
        self.pool.release(self, keep, exchange.last_activity)

    def _on_close(self, tcp: AsyncTcpConnection) -> None:
        if self.state == CONNECTING:
            self._fail_connect(
                self._connect_error or ConnectError("the connection closed while opening")
            )
            return
        exchange = self.exchange
        self.state = CLOSED
        self._stop_watch()
        if exchange is not None:
            self.exchange = None
            started = self.parser.started
            try:
                events = self.parser.feed_eof()
            except ProtocolError as exc:
                if not started:
                    error: NetworkError = (
                        StaleConnection("the server closed the reused connection")
                        if self.served
                        else NetworkError("the server closed the connection without answering")
                    )
                    exchange.fail(error)
                else:
                    exchange.fail(exc)
            else:
                if END in events:
                    self.served += 1
                    exchange.on_end()
                else:
                    exchange.fail(NetworkError("the connection closed"))
        self.pool.discard(self)

    # -- flow control and ending -------------------------------------------------------

    def pause(self) -> None:
        self.tcp.pause_recv()

    def resume(self) -> None:
        self.tcp.resume_recv()

    def abort(self, error: BaseException) -> None:
        """Drop the connection; the exchange on it fails with ``error``."""
        exchange, self.exchange = self.exchange, None
        if self.state == CONNECTING:
            self._cancel_connect_timer()
            if not self.ready.done():
                self.ready.set_exception(error)
        self.state = CLOSED
        self._stop_watch()
        self.tcp.on_close = None
        self.tcp.destroy()
        if exchange is not None:
            exchange.fail(error)
        self.pool.discard(self)

    def abandon(self) -> None:
        """Drop a connection still opening, that nobody waits for any more."""
        if self.state == CONNECTING:
            self._cancel_connect_timer()
            if not self.ready.done():
                self.ready.set_result(None)
        self.close()

    def close(self) -> None:
        """Close an idle connection (or drop a busy one, failing its exchange)."""
        if self.state == CLOSED:
            return
        self.abort(NetworkError("the client closed the connection"))
