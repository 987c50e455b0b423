"""The MQTT client: paho's engine on the workerman loop, with reconnects that lose nothing.

State, in one line each:
- ``idle``: no connection and none under way (before ``connect()``, or after a loss
  when reconnecting is off);
- ``opening``: the socket is being opened (resolve, TCP, TLS) on the loop's watchers;
- ``handshake``: CONNECT sent, waiting for CONNACK (``connect_timeout`` covers both);
- ``connected``; ``waiting``: a backoff timer runs before the next attempt;
- ``closing`` (DISCONNECT on its way), ``closed``.

Nothing lost: QoS 1 and 2 publishes stay in paho's session until acknowledged and are
sent again (DUP) after a reconnect; publishes made while disconnected, or beyond the
in-flight window, wait in a bounded backlog; subscriptions are restored when the broker
kept no session. Inbound QoS 2 reaches the application once, on PUBREL.
"""

from __future__ import annotations

import random
import secrets
import ssl as ssl_module
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from paho.mqtt.client import (
    MQTT_ERR_SUCCESS,
    error_string,
)
from paho.mqtt.properties import Properties

from workerman.core import EventLoop, current_loop, register_status

from ._engine import Engine, new_engine, reason_of
from ._exceptions import (
    NOT_AUTHORIZED_CODES,
    MqttClosedError,
    MqttConnectError,
    MqttConnectionError,
    MqttConnectionLostError,
    MqttError,
    MqttNotAuthorizedError,
    MqttTimeoutError,
)
from ._message import ConnectResult, Message, Will
from ._opener import Opener
from ._pending import Callback, Pending, call_user
from ._publishing import Publish, Publishing
from ._receiving import Receiving
from ._socket import Transport, close_socket
from ._statistics import Statistics
from ._streams import MessageStream
from ._subscriptions import SubscriptionBook
from ._url import parse_url

__all__ = ["MqttClient"]


class MqttClient(Publishing, Receiving):
    """An MQTT 3.1.1 / 5 client on the workerman loop.

    Construct it anywhere (module level, before workers fork): it touches the loop only
    on first use. Every operation can be awaited (``await client.publish(...)``) or
    given ``callback=fn``, called as ``fn(result, error)``.

    Args:
        url: ``mqtt://[user[:password]@]host[:port]``, ``mqtts://`` (TLS, verified),
            ``ws://host[:port][/path]`` or ``wss://`` (MQTT over WebSocket, path
            ``/mqtt`` by default).
        client_id: generated (``workerman-<random>``) when None.
        protocol: 5 (MQTT 5) or 4 (MQTT 3.1.1).
        clean_start: start a new session (MQTT 5 clean start, 3.1.1 clean session).
        session_expiry: MQTT 5: seconds the broker keeps the session after a disconnect.
        keepalive: seconds; the client pings when idle, the broker drops it after 1.5x.
        will: a :class:`Will` or a tuple ``(topic, payload, qos, retain)``.
        username: overrides the one in the URL.
        password: overrides the one in the URL.
        ssl: an ``ssl.SSLContext`` (for a test CA, client certificates); mqtts and wss
            use the system's verified default when None.
        connect_properties: MQTT 5 CONNECT properties (paho ``Properties``).
        connect_timeout: seconds for the socket, TLS and CONNACK together.
        timeout: seconds to wait for an acknowledgement (publish QoS 1/2, subscribe,
            unsubscribe); None waits for ever.
        reconnect: reconnect after a loss, with capped exponential backoff and jitter.
        reconnect_delay: (first, cap) of the backoff, in seconds.
        max_inflight: QoS 1/2 publishes sent and not yet acknowledged (lowered to the
            broker's Receive Maximum); further ones wait in the backlog.
        max_queued_messages: the backlog's bound (publishes waiting for a connection or
            for the window); a publish beyond it fails with MqttQueueFullError.
        max_buffered_messages: default bound of each ``messages()`` stream.
        write_buffer_size: bytes queued for the socket beyond which QoS 0 publishes wait.
    """

    def __init__(
        self,
        url: str = "mqtt://127.0.0.1:1883",
        *,
        client_id: str | None = None,
        protocol: int = 5,
        clean_start: bool = True,
        session_expiry: int | None = None,
        keepalive: int = 60,
        will: Will | tuple[Any, ...] | None = None,
        username: str | None = None,
        password: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        connect_properties: Properties | None = None,
        connect_timeout: float = 10.0,
        timeout: float | None = 30.0,
        reconnect: bool = True,
        reconnect_delay: tuple[float, float] = (0.1, 30.0),
        max_inflight: int = 64,
        max_queued_messages: int = 10_000,
        max_buffered_messages: int = 10_000,
        write_buffer_size: int = 1024 * 1024,
    ) -> None:
        if protocol not in (4, 5):
            raise MqttError(f"protocol must be 5 (MQTT 5) or 4 (MQTT 3.1.1), not {protocol!r}")
        if not 0 <= keepalive <= 65535:
            raise MqttError("keepalive must be 0..65535 seconds")
        if max_inflight < 1 or max_queued_messages < 1 or max_buffered_messages < 1:
            raise MqttError("max_inflight, max_queued_messages and max_buffered_messages are >= 1")
        self.address = parse_url(url)
        self.client_id = client_id or f"workerman-{secrets.token_hex(8)}"
        self.protocol = protocol
        self.clean_start = clean_start
        self.session_expiry = session_expiry
        self.keepalive = keepalive
        self.will = _as_will(will)
        self.username = username if username is not None else self.address.username
        self.password = password if password is not None else self.address.password
        if ssl is None and self.address.tls:
            ssl = ssl_module.create_default_context()
        self.ssl = ssl
        self.connect_properties = connect_properties
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.max_inflight = max_inflight
        self.max_queued_messages = max_queued_messages
        self.max_buffered_messages = max_buffered_messages
        self.write_buffer_size = write_buffer_size

        #: ``fn(message)`` for every message received (plain or async)
        self.on_message: Callable[[Message], Any] | None = None
        #: ``fn(result: ConnectResult)`` after each successful (re)connect
        self.on_connect: Callable[[ConnectResult], Any] | None = None
        #: ``fn(error)`` when a connection is lost (the client reconnects by itself)
        self.on_disconnect: Callable[[BaseException], Any] | None = None

        self.statistics = Statistics()
        self._state = "idle"
        self._engine: Engine | None = None
        self._transport: Transport | None = None
        self._opener: Opener | None = None
        self._ever_connected = False
        self._failures = 0
        self._retry_timer = 0
        self._tick_timer = 0
        self._handshake_deadline = 0.0
        self._refusal: MqttError | None = None
        self._window = max_inflight
        self._write_scheduled = False
        self._connect_waiters: list[Pending] = []
        self._close_waiters: list[Pending] = []
        self._backlog: deque[Publish] = deque()
        self._inflight: dict[int, Publish] = {}
        self._book = SubscriptionBook()
        self._handlers: list[tuple[tuple[str, ...], Callable[[Message], Any]]] = []
        self._streams: list[weakref.ref[MessageStream]] = []
        self._full_streams: set[int] = set()
        self._reading_paused = False
        self._drain_scheduled = False
        self._loop: EventLoop | None = None  # the loop the connection belongs to
        self._unregister_status: Callable[[], None] | None = None

    # -- connection ----------------------------------------------------------------------

    def connect(self, *, callback: Callback | None = None) -> Any:
        """Connect, and keep the connection up (reconnecting) until :meth:`disconnect`.

        Returns (awaited, or passed to ``callback``) the :class:`ConnectResult`. A first
        connect that fails raises :class:`MqttConnectError` (with the broker's reason
        code; :class:`MqttNotAuthorizedError` for credentials),
        :class:`MqttTimeoutError` or :class:`MqttConnectionError`.
        """
        self._check_loop()
        pending = Pending(callback, self._deadline(self.connect_timeout))
        if self._state in ("closing", "closed"):
            pending.fail(MqttClosedError("the client is closed"))
        elif self._state == "connected":
            pending.resolve(self._last_result)
        else:
            self._connect_waiters.append(pending)
            if self._state == "idle":
                self._open()
        return pending.awaitable

    def _check_loop(self) -> None:
        """A client that outlived the event loop it connected on (a second
        ``asyncio.run`` in one script) starts over on the running one: that loop took
        the socket, timers and waiters with it; paho's session (QoS 1/2 not yet
        acknowledged) and the subscriptions are kept and go out on the new connection."""
        loop = self._loop
        if loop is None or loop is current_loop() or self._state == "closed":
            return
        self._loop = None
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()  # tolerates the ended loop
        self._opener = None
        self._retry_timer = self._tick_timer = 0
        self._write_scheduled = self._drain_scheduled = False
        for request in (*self._inflight.values(), *self._backlog):
            if request.pending is not None and request.pending.callback is None:
                request.pending = None  # a future of the old loop: nobody can await it
        self._connect_waiters.clear()
        self._book.forget_waiters()
        self._streams = []
        self._full_streams.clear()
        self._reading_paused = False
        closing = self._state == "closing"
        self._state = "idle"
        if closing:
            self._finish_close()
        elif self._ever_connected and self.reconnect:
            self._open()

    def _open(self) -> None:
        self._retry_timer = 0
        self._state = "opening"
        loop = self._loop = current_loop()
        if self._unregister_status is None:
            self._unregister_status = register_status(f"mqtt {self.client_id}", self.status)
        if not self._tick_timer:
            self._tick_timer = loop.repeat(self._tick_interval(), self._tick)
        self._handshake_deadline = loop.time() + self.connect_timeout
        self.statistics.connect_attempts += 1
        self._opener = Opener(
            self.address.host,
            self.address.port,
            self.ssl,
            self.connect_timeout,
            self._opened,
            self.address.path if self.address.websocket else None,
        )
        self._opener.start()

    def _opened(self, sock: Any, error: BaseException | None) -> None:
        opener, self._opener = self._opener, None
        if error is not None:
            self._attempt_failed(error)
            return
        if self._state != "opening":
            close_socket(sock)
            return
        if self._engine is None:
            self._engine = new_engine(self)
        engine = self._engine
        transport = Transport(
            sock,
            self._on_input,
            self._on_drain,
            self.write_buffer_size,
            opener.websocket if opener is not None else None,
            opener.leftover if opener is not None else b"",
        )
        self._transport = transport
        engine.prepared = transport
        self._state = "handshake"
        self._refusal = None
        try:
            rc = engine.reconnect()
        except (OSError, ValueError) as exc:
            transport.close()
            self._transport = None
            self._attempt_failed(MqttConnectionError(f"MQTT engine: {exc}"))
            return
        if rc != MQTT_ERR_SUCCESS:
            transport.close()
            self._transport = None
            self._attempt_failed(MqttConnectionError(f"MQTT engine: {error_string(rc)}"))
            return
        if not self._reading_paused:
            transport.start_reading()
        if transport.buffered or transport.eof:  # bytes (or a Close) right after the upgrade
            current_loop().call_soon(self._on_input)

    def _attempt_failed(self, error: BaseException) -> None:
        """A connect attempt ended without a connection."""
        if self._state in ("closing", "closed"):
            self._finish_close()
            return
        self._state = "idle"
        if self._ever_connected and self.reconnect and not _is_refusal(error):
            self._schedule_retry()
        elif self._ever_connected and self.reconnect:
            # the broker said no (credentials changed?): keep trying, slowly, and say why
            self._schedule_retry()
            self._notify_disconnect(error)
        else:
            self._fail_connect_waiters(error)  # the tick goes on: backlog deadlines

    def _schedule_retry(self) -> None:
        self._failures += 1
        first, cap = self.reconnect_delay
        delay = min(cap, first * 2 ** min(self._failures - 1, 30))
        delay = random.uniform(delay / 2, delay)
        self._state = "waiting"
        self._retry_timer = current_loop().delay(max(delay, 0.001), self._open)

    def _on_connack(
        self, _client: Any, _userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        code, name = reason_of(reason)
        if code >= 0x80 or (self.protocol == 4 and 0 < code < 0x80):
            cls = MqttNotAuthorizedError if code in NOT_AUTHORIZED_CODES else MqttConnectError
            self._refusal = cls("the broker refused the connection", code, name)
            return  # paho closes the socket next, and _on_engine_disconnect reports it
        self._state = "connected"
        self._failures = 0
        if self._ever_connected:
            self.statistics.reconnects += 1
        self._ever_connected = True
        self.statistics.connects += 1
        window = self.max_inflight
        receive_maximum = getattr(properties, "ReceiveMaximum", None)
        if self.protocol == 5 and receive_maximum:
            window = min(window, int(receive_maximum))
        self._window = window
        session_present = bool(getattr(flags, "session_present", False))
        result = ConnectResult(session_present, code, properties if self.protocol == 5 else None)
        self._last_result = result
        self._book.on_connected(self, session_present)
        waiters, self._connect_waiters = self._connect_waiters, []
        for waiter in waiters:
            waiter.resolve(result)
        if self.on_connect is not None:
            call_user(self.on_connect, result)
        # paho sends the in-flight QoS 1/2 messages again when this returns; the backlog
        # follows them, next loop turn
        self._schedule_drain()

    def _on_engine_disconnect(
        self, _client: Any, _userdata: Any, flags: Any, reason: Any, _properties: Any
    ) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
        state = self._state
        if state in ("closing", "closed"):
            self._finish_close()
            return
        if state == "handshake":
            refusal = self._refusal
            if refusal is None:
                refusal = MqttConnectionError(
                    f"the connection closed before CONNACK ({_why(transport, reason)})"
                )
            self._attempt_failed(refusal)
            return
        if state != "connected":
            return
        self.statistics.connection_losses += 1
        by_broker = bool(getattr(flags, "is_disconnect_packet_from_server", False))
        _code, name = reason_of(reason)
        why = f"DISCONNECT from the broker: {name}" if by_broker else _why(transport, reason)
        error = MqttConnectionLostError(f"lost the connection to the broker ({why})")
        self._book.on_lost()
        if self.reconnect:
            self._schedule_retry()
        else:
            self._state = "idle"
            self._fail_all(error)
        self._notify_disconnect(error)

    def _notify_disconnect(self, error: BaseException) -> None:
        if self.on_disconnect is not None:
            call_user(self.on_disconnect, error)

    # -- the socket ----------------------------------------------------------------------

    def _on_input(self) -> None:
        transport = self._transport
        engine = self._engine
        if transport is None or engine is None:
            return
        while transport.buffered or transport.eof:
            if self._reading_paused and transport.buffered:
                return  # a full stream: the rest waits (an end of stream does not)
            if engine.socket() is not self._transport:
                return
            if engine.loop_read() != MQTT_ERR_SUCCESS:
                return

    def _want_write(self, _client: Any, _userdata: Any, _sock: Any) -> None:
        if not self._write_scheduled:
            self._write_scheduled = True
            current_loop().call_soon(self._write)

    def _write(self) -> None:
        self._write_scheduled = False
        transport = self._transport
        engine = self._engine
        if transport is None or engine is None or engine.socket() is not self._transport:
            return
        transport.flush_scheduled = True  # one flush below, not one per packet
        engine.loop_write()
        transport.flush()

    def _on_drain(self) -> None:
        self._schedule_drain()

    # -- timers --------------------------------------------------------------------------

    def _tick_interval(self) -> float:
        candidates = [1.0, self.connect_timeout / 4]
        if self.keepalive:
            candidates.append(self.keepalive / 4)
        if self.timeout is not None:
            candidates.append(self.timeout / 4)
        return max(0.02, min(candidates))

    def _tick(self) -> None:
        loop = current_loop()
        now = loop.time()
        engine = self._engine
        if self._state == "handshake" and now >= self._handshake_deadline:
            self._abort(MqttTimeoutError(f"no CONNACK within {self.connect_timeout}s"))
        elif self._state in ("handshake", "connected") and engine is not None:
            engine.loop_misc()  # keepalive: PINGREQ, and a dead link noticed
        self._expire(now)

    def _expire(self, now: float) -> None:
        for waiter in list(self._connect_waiters):
            if waiter.deadline and waiter.deadline <= now:
                self._connect_waiters.remove(waiter)
                waiter.fail(MqttTimeoutError(f"not connected within {self.connect_timeout}s"))
        if self.timeout is None:
            return
        late = MqttTimeoutError(
            f"no acknowledgement within {self.timeout}s (the message stays in the session)"
        )
        for request in (*self._inflight.values(), *self._backlog):
            pending = request.pending
            if pending is not None and pending.deadline and pending.deadline <= now:
                request.pending = None
                pending.fail(late)
        self._book.expire(now, self.timeout)

    def _stop_tick(self) -> None:
        if self._tick_timer:
            current_loop().cancel(self._tick_timer)
            self._tick_timer = 0

    def _abort(self, error: MqttError) -> None:
        """Drop the connection now (a handshake that took too long)."""
        self._refusal = error
        transport = self._transport
        if transport is not None:
            transport.discard()
            transport.error = error
            self._on_input()  # paho reads the end: closes, and reports the loss

    # -- closing -------------------------------------------------------------------------

    def disconnect(self, *, callback: Callback | None = None) -> Any:
        """Send DISCONNECT (no will is published) and close. Publishes not yet
        acknowledged fail with :class:`MqttClosedError`; streams end."""
        self._check_loop()
        pending = Pending(callback)
        if self._state == "closed":
            pending.resolve(None)
            return pending.awaitable
        self._close_waiters.append(pending)
        if self._state == "closing":
            return pending.awaitable
        state, self._state = self._state, "closing"
        if self._retry_timer:
            current_loop().cancel(self._retry_timer)
            self._retry_timer = 0
        if self._opener is not None:
            self._opener.cancel()
            self._opener = None
        engine = self._engine
        if state in ("connected", "handshake") and engine is not None:
            engine.disconnect()
            return pending.awaitable
        self._finish_close()
        return pending.awaitable

    def close(self) -> None:
        """Disconnect without waiting (see :meth:`disconnect`)."""
        if self._state not in ("closing", "closed"):
            self.disconnect(callback=lambda _result, _error: None)

    async def aclose(self) -> None:
        await self.disconnect()

    async def __aenter__(self) -> MqttClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    def _finish_close(self) -> None:
        if self._state == "closed":
            return
        self._state = "closed"
        self._stop_tick()
        if self._unregister_status is not None:
            self._unregister_status()
            self._unregister_status = None
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
        self._fail_all(MqttClosedError("the client was closed"))
        waiters, self._close_waiters = self._close_waiters, []
        for waiter in waiters:
            waiter.resolve(None)

    def _fail_all(self, error: MqttError) -> None:
        """Everything waiting fails with ``error`` (closed, or lost for good)."""
        self._fail_connect_waiters(error)
        requests = [*self._inflight.values(), *self._backlog]
        self._inflight.clear()
        self._backlog.clear()
        if self._engine is not None:
            self._engine.drop_out_messages()
        for request in requests:
            if request.pending is not None:
                request.pending.fail(error)
        self._book.fail_all(error)
        ended = None if isinstance(error, MqttClosedError) else error
        for ref in self._streams:
            stream = ref()
            if stream is not None:
                stream.end(ended)

    def _fail_connect_waiters(self, error: BaseException) -> None:
        waiters, self._connect_waiters = self._connect_waiters, []
        for waiter in waiters:
            waiter.fail(error)

    # -- introspection -------------------------------------------------------------------

    def status(self) -> Mapping[str, object]:
        """Counters and gauges, for the ``status`` command and for monitoring."""
        report = self.statistics.snapshot()
        report.update(
            state=self._state,
            in_flight=len(self._inflight),
            backlog=len(self._backlog),
            subscriptions=len(self._book.filters),
            streams=len(self._live_streams()),
            reading_paused=self._reading_paused,
        )
        transport = self._transport
        if transport is not None:
            report.update(bytes_in=transport.bytes_in, bytes_out=transport.bytes_out)
        return report

    def __repr__(self) -> str:
        a = self.address
        return f"<MqttClient {a.host}:{a.port} id={self.client_id!r} {self._state}>"

    _last_result = ConnectResult(False)


def _as_will(will: Will | tuple[Any, ...] | None) -> Will | None:
    if will is None or isinstance(will, Will):
        return will
    try:
        return Will(*will)
    except TypeError as exc:
        raise MqttError("will is a Will or a tuple (topic, payload, qos, retain)") from exc


def _is_refusal(error: BaseException) -> bool:
    return isinstance(error, MqttConnectError)


def _why(transport: Transport | None, reason: Any) -> str:
    if transport is not None and transport.error is not None:
        return str(transport.error)
    if transport is not None and transport.eof:
        return "the broker closed the connection"
    return reason_of(reason)[1]
