"""TcpConnection: one stream connection, its buffers, limits, flow control and callbacks.

The connection is itself the asyncio protocol of its transport (the trio driver
supplies a transport with the same shape), so bytes go from the kernel to
``on_message`` with no task, future or await in between when the handler is a plain
function. Replies sent while one read is handled are joined into one write at the
end of that read; a send outside a read goes straight to the transport.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterable
from types import FunctionType, SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar, Final

from mypy_extensions import i32, mypyc_attr, u8

from ._callbacks import report
from ._loop import current_loop, current_loop_or_none, invoke
from ._parsing import deliver, parse, parse_text
from ._statistics import count_from, statistics
from ._status_codes import BY_VALUE as _BY_VALUE
from ._status_codes import CLOSED as _CLOSED
from ._status_codes import CLOSING as _CLOSING
from ._status_codes import CONNECTING as _CONNECTING
from ._status_codes import ESTABLISHED as _ESTABLISHED
from ._status_codes import INITIAL as _INITIAL
from ._status_codes import ConnectionStatus
from ._stream import Discard, StreamProtocol, guarded, is_stream_protocol
from .protocols._text import Text as _Text

if TYPE_CHECKING:
    from ._worker import Worker
    from .protocols import Codec

__all__ = [
    "CONNECT_FAIL",
    "SEND_FAIL",
    "ConnectionStatus",
    "TcpConnection",
    "live_connections",
]

logger = logging.getLogger("workerman.core")

#: ``on_error`` code: an outgoing connection could not be established.
CONNECT_FAIL = 1
"""``on_error`` code: an outgoing connection could not be established."""
#: ``on_error`` code: data could not be sent (buffer full, or the peer went away).
SEND_FAIL = 2
"""``on_error`` code: data could not be sent (buffer full, or the peer went away)."""

_ids: Final = itertools.count(1)
#: open connections that no worker accepted (outgoing ones), by id
_outgoing: dict[int, TcpConnection] = {}
#: the tables that hold open connections now, by id(table): each worker's ``connections``
#: (the ones it accepted) and _outgoing. A connection is in one table only: one dict
#: entry per idle connection, not one per table that could list it.
_tables: dict[int, dict[int, TcpConnection]] = {}

Callback = Callable[..., Any] | None


def live_connections() -> dict[int, TcpConnection]:
    """Every open connection of this process (accepted and outgoing), by id: a new dict
    at each call (a worker's own ``connections`` is kept up to date instead)."""
    live: dict[int, TcpConnection] = {}
    for table in list(_tables.values()):
        live.update(table)
    return live


def _open_connections() -> Iterable[TcpConnection]:
    return live_connections().values()


count_from(connections=_open_connections)

#: the send deadlines running (see _watch_send), by connection: only a connection whose
#: peer is not taking what is queued has one, so an idle connection costs nothing here
_send_watches: dict[TcpConnection, int] = {}

#: what sends larger than the send buffer have not yet handed to the transport, by
#: connection (``_large`` says there is an entry)
_pieces: dict[TcpConnection, deque[memoryview | bytes]] = {}

#: what waits for the last release of a held connection (``_after_release``)
_EOF_WAITS: Final = 1  # the peer ended its side: close
_LOSS_WAITS: Final = 2  # the connection is gone: on_close


class _FromWorker:
    """What a connection takes from its worker but ``on_message`` and the protocol (read
    for every message, so slots of their own): the worker, and its other callbacks. The
    connections a worker accepted share one of these until one sets a callback of its
    own (then it gets its own copy): six references cost an idle connection one."""

    __slots__ = (
        "on_buffer_drain",
        "on_buffer_full",
        "on_close",
        "on_connect",
        "on_error",
        "shared",
        "worker",
    )

    def __init__(self, source: Any = None, shared: bool = True, worker: Any = None) -> None:
        self.worker: Worker | None = worker
        self.on_connect: Callback = getattr(source, "on_connect", None)
        self.on_close: Callback = getattr(source, "on_close", None)
        self.on_error: Callback = getattr(source, "on_error", None)
        self.on_buffer_full: Callback = getattr(source, "on_buffer_full", None)
        self.on_buffer_drain: Callback = getattr(source, "on_buffer_drain", None)
        self.shared = shared

    def same_as(self, worker: Worker) -> bool:
        return (
            self.on_connect is worker.on_connect
            and self.on_close is worker.on_close
            and self.on_error is worker.on_error
            and self.on_buffer_full is worker.on_buffer_full
            and self.on_buffer_drain is worker.on_buffer_drain
        )


#: ConnectionStatus by state code: a tuple, indexed faster than a dict is looked up (the
#: status is read for every WebSocket frame)
_STATUS_OF: Final = tuple(_BY_VALUE.get(code, ConnectionStatus.CLOSED) for code in range(9))

_NO_WORKER: Final = _FromWorker()  # an outgoing connection's, until it sets one


def _from_worker(worker: Worker) -> _FromWorker:
    """The worker's callbacks as they are now, shared while they stay so."""
    shared: _FromWorker | None = worker._shared_with_connections
    if shared is None or not shared.same_as(worker):
        shared = worker._shared_with_connections = _FromWorker(worker, worker=worker)
    return shared


def _split_address(addr: Any) -> tuple[str, int]:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return str(addr[0]), int(addr[1])
    return (addr or "") if isinstance(addr, str) else "", 0


def _format_address(addr: Any) -> str:
    host, port = _split_address(addr)
    if not port:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@mypyc_attr(allow_interpreted_subclasses=True)  # AsyncTcpConnection, and users' own
class TcpConnection:
    """A stream connection (TCP, TLS or Unix) accepted by a :class:`Worker`.

    _FromWorker are copied from the worker when the connection is accepted and may be
    replaced per connection. Sizes are in bytes.

    A :class:`~workerman.core.protocols.StreamProtocol` runs on the methods in the
    "protocol side" section (``hold``, ``release``, ``keep``, ``write``, ``deliver``,
    ``linger``, ...): what the built-in HTTP and WebSocket protocols use, and all they use.

    Attributes:
        id: unique in this process.
        worker: the worker that accepted it (None for an outgoing connection).
        protocol: the codec or StreamProtocol class (None: raw bytes in, bytes out).
        max_send_buffer_size: sends are refused while this much is queued.
        max_package_size: a package (or unparsed input) above this closes the connection.
        bytes_read: bytes received so far.
    """

    #: class-wide default for ``max_send_buffer_size`` (1 MiB).
    default_max_send_buffer_size: ClassVar[int] = 1024 * 1024
    #: class-wide default for ``max_package_size`` (10 MiB).
    default_max_package_size: ClassVar[int] = 10 * 1024 * 1024
    #: seconds the peer may go on taking nothing of what waits in the send buffer (a
    #: full buffer, or a close waiting for queued bytes to leave) before the connection
    #: is dropped (0: never).
    send_timeout: ClassVar[float] = 60.0

    # Every slot costs each idle connection 8 bytes (a bool, 1 compiled): what is rare
    # lives elsewhere until used (the callbacks but on_message, send deadlines).
    __slots__ = (
        "_after_release",
        "_batch",
        "_batch_size",
        "_callbacks",
        "_context",
        "_full",
        "_handed",
        "_large",
        "_max_send",
        "_pstate",
        "_reading",
        "_recv",
        "_status",
        "_transport",
        "_unsent",
        "_user_paused",
        "_want",
        "bytes_read",
        "holds",
        "id",
        "max_package_size",
        "on_message",
        "protocol",
    )

    def __init__(self, worker: Worker | None = None, protocol: Codec | None = None) -> None:
        # The small fields first, so that compiled they pack into two words (the order
        # of first assignment is the order in memory): u8 and i32 are a byte and 4
        # bytes there, where an int takes 8; in Python they are plain ints.
        #: holds taken (see hold()): reading waits while there is one; read, do not set
        self.holds: i32 = 0
        self._status: u8 = _INITIAL
        self._user_paused = False
        self._reading = True
        self._full = False
        self._unsent = False
        #: pieces of a send larger than the send buffer wait in _pieces
        self._large = False
        #: _EOF_WAITS, _LOSS_WAITS or 0: what the last release does
        self._after_release: u8 = 0
        self.id = next(_ids)
        self._transport: Any = None
        self._recv: bytearray | None = None
        self._want = 0
        self._batch: list[bytes] | None = None
        self._batch_size = 0
        #: what a send larger than the send buffer has not yet handed to the transport
        self._handed = 0
        self._context: SimpleNamespace | None = None
        self._pstate: StreamProtocol | None = None
        self.bytes_read = 0
        self._max_send = self.default_max_send_buffer_size
        self.max_package_size = self.default_max_package_size
        self.protocol: Codec | type[StreamProtocol] | None
        self._callbacks: _FromWorker
        if worker is not None:
            self.protocol = worker._codec
            self.on_message = worker.on_message
            self._callbacks = _from_worker(worker)
        else:
            self.protocol = protocol
            self.on_message = None
            self._callbacks = _NO_WORKER

    def _set_status(self, status: int) -> None:
        self._status = status

    @property
    def worker(self) -> Worker | None:
        """The worker that accepted the connection (None for an outgoing one)."""
        return self._callbacks.worker

    @property
    def status(self) -> ConnectionStatus:
        """Where the connection is in its life (states only move forward)."""
        return _STATUS_OF[self._status]

    # -- callbacks (but on_message): shared with the worker's other connections until set

    def _own_callbacks(self) -> _FromWorker:
        callbacks = self._callbacks
        if callbacks.shared:
            callbacks = self._callbacks = _FromWorker(callbacks, False, callbacks.worker)
        return callbacks

    @property
    def on_connect(self) -> Callback:
        return self._callbacks.on_connect

    @on_connect.setter
    def on_connect(self, callback: Callback) -> None:
        self._own_callbacks().on_connect = callback

    @property
    def on_close(self) -> Callback:
        return self._callbacks.on_close

    @on_close.setter
    def on_close(self, callback: Callback) -> None:
        self._own_callbacks().on_close = callback

    @property
    def on_error(self) -> Callback:
        return self._callbacks.on_error

    @on_error.setter
    def on_error(self, callback: Callback) -> None:
        self._own_callbacks().on_error = callback

    @property
    def on_buffer_full(self) -> Callback:
        return self._callbacks.on_buffer_full

    @on_buffer_full.setter
    def on_buffer_full(self, callback: Callback) -> None:
        self._own_callbacks().on_buffer_full = callback

    @property
    def on_buffer_drain(self) -> Callback:
        return self._callbacks.on_buffer_drain

    @on_buffer_drain.setter
    def on_buffer_drain(self, callback: Callback) -> None:
        self._own_callbacks().on_buffer_drain = callback

    # -- what a user reads ---------------------------------------------------------

    @property
    def context(self) -> SimpleNamespace:
        """Per-connection user state: set any attribute on it."""
        if self._context is None:
            self._context = SimpleNamespace()
        return self._context

    @property
    def protocol_state(self) -> StreamProtocol | None:
        """The per-connection instance of a StreamProtocol (None for a codec), made on
        first use, so a client's protocol settings can be set before ``connect()``."""
        state = self._pstate
        if state is None and is_stream_protocol(self.protocol):
            state = self._pstate = self.protocol(self)  # type: ignore[misc,operator]
        return state

    @property
    def websocket(self) -> Any:
        """The WebSocket settings, callbacks and state of a ``websocket://`` or ``ws://``
        connection (:class:`~workerman.core.websocket.WebSocketState`; AttributeError for
        other protocols)."""
        state = self.protocol_state
        if state is None or not getattr(state, "is_websocket", False):
            raise AttributeError(f"{self!r} is not a WebSocket connection")
        return state

    @property
    def max_send_buffer_size(self) -> int:
        """Sends are refused (and ``on_buffer_full`` has fired) once this much is queued."""
        return self._max_send

    @max_send_buffer_size.setter
    def max_send_buffer_size(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"max_send_buffer_size must be positive, got {size}")
        self._max_send = size
        if self._status == _ESTABLISHED:
            self._transport.set_write_buffer_limits(high=size - 1, low=0)
            if self._large:
                self._pump()  # a larger buffer has room for more pieces now

    @property
    def bytes_written(self) -> int:
        """Bytes handed to the kernel so far (queued bytes not included)."""
        if self._transport is None or self._status == _CLOSED:
            return self._handed
        queued: int = self._transport.get_write_buffer_size()
        return self._handed - queued

    @property
    def send_buffer_size(self) -> int:
        """Bytes queued for sending and not yet taken by the kernel."""
        queued = self._batch_size if self._batch else 0
        if self._transport is not None and self._status != _CLOSED:
            queued += self._transport.get_write_buffer_size() + self._rest_size()
        return queued

    def _rest_size(self) -> int:
        return sum(map(len, _pieces[self])) if self._large else 0

    @property
    def recv_buffer_size(self) -> int:
        """Bytes received but not yet decoded into a message (kept here, or held by the
        stream protocol: its ``recv_buffered()``)."""
        size = len(self._recv) if self._recv is not None else 0
        state = self._pstate
        return size + state.recv_buffered() if state is not None else size

    def _extra(self, name: str) -> Any:
        return None if self._transport is None else self._transport.get_extra_info(name)

    @property
    def remote_address(self) -> str:
        """``ip:port`` of the peer (``[ip]:port`` for IPv6, a path or '' for Unix sockets)."""
        return _format_address(self._extra("peername"))

    @property
    def remote_ip(self) -> str:
        return _split_address(self._extra("peername"))[0]

    @property
    def remote_port(self) -> int:
        return _split_address(self._extra("peername"))[1]

    @property
    def local_address(self) -> str:
        return _format_address(self._extra("sockname"))

    @property
    def local_ip(self) -> str:
        return _split_address(self._extra("sockname"))[0]

    @property
    def local_port(self) -> int:
        return _split_address(self._extra("sockname"))[1]

    @property
    def transport(self) -> str:
        """'tcp', 'ssl' or 'unix'."""
        if self._extra("ssl_object") is not None or self._extra("sslcontext") is not None:
            return "ssl"
        peer = self._extra("peername")
        return "tcp" if isinstance(peer, tuple) else "unix"

    def describe(self, what: str) -> str:
        """``what`` with this connection named, for log lines: "on_message of worker
        'web' connection 7"."""
        name = self.worker.name if self.worker is not None else type(self).__name__
        return f"{what} of worker {name!r} connection {self.id}"

    # -- sending -------------------------------------------------------------------

    def send(self, data: Any, raw: bool = False) -> bool | None:
        """Send a message, encoded by the connection's protocol unless ``raw``.

        Returns:
            True when the kernel took all of it, None when (some of) it is queued,
            False when it was refused: the connection is closing or closed, or the
            send buffer is full (``on_error`` gets SEND_FAIL and ``send_fail`` counts it).
        """
        batch = self._batch
        if (
            batch is not None
            and type(data) is str
            and self.protocol is _Text
            and not raw
            and not self._unsent
            and self._status == _ESTABLISHED
        ):  # the hot case: a text reply while a read is handled
            size = self._batch_size
            if size < self._max_send:
                data = data.encode() + b"\n"
                batch.append(data)
                self._batch_size = size + len(data)
                return None
        if self._status >= _CLOSING:
            return False
        if raw:
            return self.write(data.encode() if type(data) is str else data)
        state = self._pstate
        if state is not None:
            return state.send(data)
        codec = self.protocol
        if codec is None:
            if type(data) is str:
                data = data.encode()
        elif codec is _Text and type(data) is str:
            data = data.encode() + b"\n"
        else:
            data = codec.encode(data, self)
        return self.write(data)

    def write(self, data: bytes) -> bool | None:
        """Send bytes as they are: into the current read's batch (they leave in one
        write when the read is handled), queued before the connection is up, or to the
        kernel. Returns as :meth:`send`."""
        batch = self._batch
        status = self._status
        if batch is not None and status == _ESTABLISHED:
            # the common case: while a read is handled, into its batch (which leaves in
            # one write when the read ends)
            if not data:
                return None
            queued = self._batch_size
            if self._unsent:  # the transport may hold some too
                queued += self._transport.get_write_buffer_size() + self._rest_size()
            if queued >= self._max_send:
                return self._refuse()
            batch.append(data)
            self._batch_size += len(data)
            return None
        if status >= _CLOSING:
            return False
        if not data:
            return None
        if status != _ESTABLISHED:  # queued before the connection is up
            if self._batch_size >= self._max_send:
                return self._refuse()
            if batch is None:
                batch = self._batch = []
            batch.append(data)
            self._batch_size += len(data)
            if self._batch_size >= self._max_send:
                self.pause_writing()  # no transport yet to say so
            return None
        transport = self._transport
        if self._unsent and transport.get_write_buffer_size() + self._rest_size() >= self._max_send:
            return self._refuse()
        if len(data) > self._max_send or self._large:
            self._flush_large([data])
            return None
        transport.write(data)
        self._handed += len(data)
        if not transport.get_write_buffer_size():
            self._unsent = False
            return True
        self._unsent = True
        return None

    def _hand_large(self, data: bytes) -> None:
        """Bytes larger than the send buffer: handed to the transport a buffer's worth at
        a time as the peer takes them, so the transport never holds (a copy of) more than
        ``max_send_buffer_size``; what waits is a view of the caller's bytes."""
        self._unsent = True
        _pieces[self] = deque((memoryview(data if type(data) is bytes else bytes(data)),))
        self._large = True
        self._pump()

    def _pump(self) -> None:
        """Hand waiting pieces to the transport until it holds a send buffer's worth (it
        then pauses, and resume_writing pumps again) or none wait."""
        rest = _pieces[self]
        transport = self._transport
        limit = self._max_send
        while rest:
            room = limit - transport.get_write_buffer_size()
            if room <= 0:
                return
            piece = rest[0]
            if len(piece) <= room:
                rest.popleft()
            else:
                rest[0] = piece[room:]
                piece = piece[:room]
            transport.write(piece)
            self._handed += len(piece)
            if self._status == _CLOSED:  # the write failed and lost the connection
                return
        self._large = False
        del _pieces[self]
        if self._status == _CLOSING:
            transport.close()  # the close waited for the pieces

    def _refuse(self) -> bool:
        statistics.send_fail += 1
        self.notify_error(SEND_FAIL, "send buffer full and drop package")
        return False

    def _flush(self) -> None:
        batch = self._batch
        size = self._batch_size
        self._batch = None
        self._batch_size = 0
        if not batch or self._status == _CLOSED:
            return
        if self._large or size > self._max_send:
            self._flush_large(batch)
            return
        data = batch[0] if len(batch) == 1 else b"".join(batch)
        self._transport.write(data)
        self._handed += len(data)
        self._unsent = self._transport.get_write_buffer_size() > 0

    def _flush_large(self, batch: list[bytes]) -> None:
        """A batch larger than the send buffer, or one that must wait behind pieces."""
        for data in batch:
            if self._large:
                _pieces[self].append(data)
            elif len(data) > self._max_send:
                self._hand_large(data)
            else:
                self._transport.write(data)
                self._handed += len(data)
        self._unsent = True

    # -- the protocol side: what a StreamProtocol asks of its connection -------------

    @property
    def backlogged(self) -> bool:
        """The send buffer is at ``max_send_buffer_size``: the peer is not taking what is
        sent (a protocol stops handling its requests until it does)."""
        if not self._unsent and self._batch_size < self._max_send:
            return False
        return self.send_buffer_size >= self._max_send

    @property
    def writing_paused(self) -> bool:
        """``on_buffer_full`` has fired and ``drained`` has not yet followed."""
        return self._full

    def hold(self) -> None:
        """Read no more and hand nothing more to the protocol until :meth:`release`.
        Holds count: each needs its own release. Bytes that still arrive are kept."""
        self.holds += 1
        if self.holds == 1:
            self._update_reading()

    def release(self) -> None:
        """Give back one :meth:`hold`. With none left, the kept bytes (if any were kept)
        are handled now, and reading resumes; a close that waited for the handler, or
        the peer's end of input, takes effect."""
        if self.holds > 1:
            self.holds -= 1
            return
        self.holds = 0
        if self._recv is not None and len(self._recv) >= self._want:
            data = bytes(self._recv)
            self._recv = None
            outer = self._batch is None
            if outer:
                self._batch = []
            try:
                parse(self, data)
            finally:
                if outer:
                    self._flush()
        if self.holds:
            return
        after = self._after_release
        if after == _LOSS_WAITS:
            self._after_release = 0
            self._closed()
            return
        self._update_reading()
        if after == _EOF_WAITS:
            self.close()

    def keep(self, data: bytes, want: int = 0) -> None:
        """Keep ``data``, the unread rest of a read: it is handed to the protocol again in
        front of the next bytes, or on :meth:`release` (even when empty: a way to be
        called again). With ``want``, not before that many bytes are kept."""
        self._recv = bytearray(data)
        self._want = want
        if self.holds:
            self._update_reading()

    def drop_kept(self) -> None:
        """Forget what :meth:`keep` kept."""
        self._recv = None
        self._want = 0

    def deliver(self, message: Any, failed: Callable[[Exception], Any] | None = None) -> None:
        """Hand one message to ``on_message``: the one dispatch every protocol uses. A plain
        handler runs now; an async one runs as a task while the connection is held (later
        messages wait). What the handler raises is logged and counted, or, with ``failed``,
        handed to ``failed(exc)`` instead (sync or async alike)."""
        deliver(self, message, failed)

    def run_held(self, awaitable: Any, failed: Callable[[Exception], Any] | None = None) -> None:
        """Run ``awaitable`` as a task with the connection held until it ends."""
        self.hold()
        if failed is not None:
            awaitable = guarded(awaitable, failed)
        current_loop().spawn_awaitable(awaitable, lambda: self.describe("on_message"), self.release)

    def call(self, callback: Callable[..., Any], what: str, *args: Any) -> None:
        """Call a user callback ``callback(self, *args)`` (plain or async) the way every
        callback is called: errors logged and counted under ``what``."""
        invoke(callback, (self, *args), lambda: self.describe(what))

    def report(self, what: str, exc: BaseException) -> None:
        """Log and count an exception a user callback raised, naming this connection."""
        report(self.describe(what), exc)

    def protocol_error(self, reason: str) -> None:
        """Bytes that break the protocol or a limit: count, log, close. Replies already
        made still leave; nothing more of the input is read."""
        statistics.protocol_errors += 1
        logger.warning("%s closed: %s", self.describe("connection"), reason)
        self.drop_kept()
        if self._status == _ESTABLISHED:
            self.close()

    def notify_error(self, code: int, message: str) -> None:
        """Tell ``on_error`` (or the log, when there is none) of ``code`` and ``message``."""
        callback = self.on_error
        if callback is not None:
            self.call(callback, "on_error", code, message)
        else:
            logger.info("%s: %s", self.describe("error"), message)

    def linger(self, data: bytes, timeout: float) -> None:
        """Write ``data`` (a last answer), end our side of the stream, and read and drop
        what the peer still sends for up to ``timeout`` seconds, or until it closes too.

        Closing at once while the peer is still sending (a request body we refused)
        makes the kernel reset the connection, and the peer would lose the answer
        unread. Where our side cannot be ended alone (TLS) or ``timeout`` is 0, it is
        ``close(data)``.
        """
        if self._status != _ESTABLISHED:
            return
        transport = self._transport
        if self._large:  # pieces of a large send wait: they go first
            self.close(data, raw=True)
            return
        can_write_eof = getattr(transport, "can_write_eof", None)
        if timeout <= 0 or can_write_eof is None or not can_write_eof():
            self.close(data, raw=True)
            return
        self.write(data)
        if self._batch:
            self._flush()
            self._batch = []
        self.drop_kept()
        self._pstate = Discard(self, self._pstate)
        if not is_stream_protocol(self.protocol):
            self.protocol = Discard
        try:
            transport.write_eof()
        except (OSError, RuntimeError):
            self.close()
            return
        current_loop().delay(timeout, self.close)

    def switch_protocol(self, protocol: Any, state: StreamProtocol | None = None) -> None:
        """Speak ``protocol`` from now on (an upgrade: HTTP to WebSocket), with ``state``
        as its per-connection instance (made when None and it is a StreamProtocol)."""
        self.protocol = protocol
        if state is None and is_stream_protocol(protocol):
            state = protocol(self)
        self._pstate = state

    # -- receiving -----------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        self._set_status(_ESTABLISHED)
        self._reading = True
        transport.set_write_buffer_limits(high=self._max_send - 1, low=0)
        if self._user_paused:
            self._update_reading()
        statistics.connection_count += 1
        worker = self.worker
        table = worker.connections if worker is not None else _outgoing
        if not table:
            _tables[id(table)] = table
        table[self.id] = self
        state = self.protocol_state
        if state is not None:
            state.connection_made()
            if worker is not None:
                loop = current_loop_or_none()
                if loop is not None and loop._draining:  # accepted as its worker stops
                    state.draining()
        if self._batch:
            self._flush()
            if self._full and transport.get_write_buffer_size() < self._max_send:
                self.resume_writing()  # the transport did not pause, so it will not resume
        if self.on_connect is not None and self._status == _ESTABLISHED:
            self.call(self.on_connect, "on_connect")

    def data_received(self, data: bytes) -> None:
        self.bytes_read += len(data)
        if self._batch is not None:  # re-entered from a handler: just parse
            self._consume(data)
            return
        batch: list[bytes] = []
        self._batch = batch
        try:
            if self._recv is None and not self.holds and self._status < _CLOSING:
                state = self._pstate
                if state is not None:  # a StreamProtocol: the read is all its own
                    state.data_received(data)
                elif self.protocol is _Text:  # the common case, without the detours
                    parse_text(self, data)
                else:
                    parse(self, data)
            else:
                self._consume(data)
        finally:
            # (pieces of a large send never wait here: while they do, the transport holds
            # a whole send buffer, so every write of this read was refused)
            if (
                self._batch is batch
                and len(batch) == 1
                and self._batch_size <= self._max_send
                and self._status < _CLOSED
            ):
                # one reply: straight out, as _flush would
                self._batch = None
                self._batch_size = 0
                data = batch[0]
                transport = self._transport
                transport.write(data)
                self._handed += len(data)
                self._unsent = transport.get_write_buffer_size() > 0
            else:
                self._flush()

    def _consume(self, data: bytes) -> None:
        if self._status >= _CLOSING:
            return  # a read that raced close(): nothing more is handled
        codec = self.protocol
        recv = self._recv
        if recv is not None:
            recv += data
            if self.holds or len(recv) < self._want:
                if codec is not None and len(recv) > self.max_package_size:
                    self.protocol_error(f"{len(recv)} bytes pending exceed max_package_size")
                return
            self._recv = None
            self._want = 0  # met: a later keep says what it waits for
            data = bytes(recv)
        elif self.holds:
            self._recv = bytearray(data)
            self._want = 0  # these bytes wait for the release only
            self._update_reading()
            return
        parse(self, data)

    def eof_received(self) -> bool | None:
        if self.holds:
            if not self._after_release:
                self._after_release = _EOF_WAITS  # close once the running handler is done
            if self._pstate is not None:
                self._pstate.eof_received()
            return True
        return None

    def pause_writing(self) -> None:
        self._unsent = True
        if self._status == _ESTABLISHED:
            self._watch_send(self._transport.get_write_buffer_size())
        if self._full:
            return
        self._full = True
        if self.on_buffer_full is not None:
            self.call(self.on_buffer_full, "on_buffer_full")

    def resume_writing(self) -> None:
        if self._large:
            self._pump()
            if self._large:
                return  # full again
            self._unsent = self._transport.get_write_buffer_size() > 0
        else:
            self._unsent = False
        if not self._full:
            return
        self._full = False
        if self._pstate is not None:
            self._pstate.drained()
        if self.on_buffer_drain is not None:
            self.call(self.on_buffer_drain, "on_buffer_drain")

    # -- flow control ----------------------------------------------------------------

    def pause_recv(self) -> None:
        """Stop reading from the socket until :meth:`resume_recv` (bytes wait in the kernel)."""
        self._user_paused = True
        self._update_reading()

    def resume_recv(self) -> None:
        """Read again after :meth:`pause_recv`."""
        self._user_paused = False
        self._update_reading()

    def _update_reading(self) -> None:
        held = self.holds
        if held and self._recv is None and self._pstate is not None and self._pstate.watch_eof:
            held = 0  # reading on, to see the peer go; the first bytes that come pause it
        want = not (self._user_paused or held)
        if want == self._reading or self._status not in (_ESTABLISHED, _CLOSING):
            return
        self._reading = want
        if want:
            self._transport.resume_reading()
        else:
            self._transport.pause_reading()

    def pipe(self, dest: TcpConnection) -> None:
        """Forward everything this connection receives to ``dest``, pausing this side while
        ``dest``'s send buffer is full, and close ``dest`` when this one closes."""
        self.on_message = lambda _source, data: dest.send(data)
        self.on_close = lambda _source: dest.close()
        dest.on_buffer_full = lambda _dest: self.pause_recv()
        dest.on_buffer_drain = lambda _dest: self.resume_recv()

    # -- closing -------------------------------------------------------------------

    def close(self, data: Any = None, raw: bool = False) -> None:
        """Send ``data`` if given, flush what is queued, then close."""
        status = self._status
        if status in (_INITIAL, _CONNECTING):
            self.destroy()
            return
        if status >= _CLOSING:
            return
        if data is not None:
            self.send(data, raw)
        if self._pstate is not None:
            self._pstate.closing()
        self._set_status(_CLOSING)
        if self._batch:
            self._flush()
            self._batch = []  # still inside a read: later sends are refused anyway
        transport = self._transport
        # asked before the close: a closed TLS transport may no longer know its buffer
        # (nor one whose socket went while the loss is still on its way to us)
        try:
            buffered = transport.get_write_buffer_size()
        except AttributeError:
            buffered = 0
        if not self._large:
            transport.close()  # (else once the pieces are out: see _pump)
        if buffered or self._large:
            self._watch_send(buffered)  # the close waits for the peer to take what is queued

    def destroy(self) -> None:
        """Close at once, dropping whatever is queued."""
        if self._status == _CLOSED:
            return
        had_transport = self._status in (_ESTABLISHED, _CLOSING)
        self._set_status(_CLOSED)
        if had_transport:
            self._transport.abort()
        else:
            self._abandon_connect()
            self._batch = None  # sends queued before the connection was up
            self._batch_size = 0
            self._closed()

    def _watch_send(self, buffered: int) -> None:
        """``buffered`` bytes wait in the transport: the peer has ``send_timeout``
        seconds to take some of them, and again after each time it does, or it is
        dropped."""
        if self.send_timeout <= 0 or self in _send_watches:
            return
        mark = self._handed - buffered
        _send_watches[self] = current_loop().delay(self.send_timeout, self._send_deadline, mark)

    def _send_deadline(self, mark: int) -> None:
        """``mark``: bytes the peer had taken when the deadline was set."""
        _send_watches.pop(self, None)
        if self._status == _CLOSED:
            return
        buffered = self._transport.get_write_buffer_size()
        queued = buffered + self._rest_size()
        if not queued:
            return
        if self._handed - buffered > mark:  # it took some: another period
            self._watch_send(buffered)
            return
        statistics.timeouts += 1
        logger.info(
            "%s dropped: the peer took none of %d queued bytes in %gs",
            self.describe("connection"),
            queued,
            self.send_timeout,
        )
        self.destroy()

    def _abandon_connect(self) -> None:
        """Overridden by AsyncTcpConnection to cancel a connect in progress."""

    def connection_lost(self, exc: Exception | None) -> None:
        lost_with_data = exc is not None and self._unsent
        unsent = self._transport.get_write_buffer_size() if self._transport is not None else 0
        self._handed -= unsent
        self._set_status(_CLOSED)
        if self._large:
            self._large = False
            del _pieces[self]
        timer = _send_watches.pop(self, 0)
        if timer:
            current_loop().cancel(timer)
        statistics.connection_count -= 1
        statistics.bytes_read += self.bytes_read
        statistics.bytes_written += self._handed
        table = self.worker.connections if self.worker is not None else _outgoing
        table.pop(self.id, None)
        if not table:
            _tables.pop(id(table), None)
        if lost_with_data:
            statistics.send_fail += 1
            self.notify_error(SEND_FAIL, f"peer went away with data unsent: {exc}")
        if self._pstate is not None:
            self._pstate.connection_lost()
        if self.holds:
            self._after_release = _LOSS_WAITS
            return
        self._closed()

    def _closed(self) -> None:
        self._recv = None
        self._unsent = False
        callback = self.on_close
        if callback is not None:
            self.call(callback, "on_close")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id} {self.status.name} {self.remote_address}>"


# Pure Python: deliver itself is the method, no call in between per message. A compiled
# (native) function does not bind to an instance, so there the def above stays.
if isinstance(deliver, FunctionType):
    TcpConnection.deliver = deliver  # type: ignore[method-assign]
