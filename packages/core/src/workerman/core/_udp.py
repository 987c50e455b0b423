"""UDP: UdpConnection (one per received datagram, as Workerman) and AsyncUdpConnection.

Both drivers serve datagrams the same way: a non-blocking socket watched with the
loop's ``on_readable``; a send is one ``sendto`` and is counted as failed when the
kernel refuses it (datagrams are never queued).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from ._address import Address, parse_address
from ._connection import CONNECT_FAIL, SEND_FAIL, _format_address, _split_address
from ._exceptions import ProtocolError
from ._loop import current_loop, invoke
from ._statistics import statistics

if TYPE_CHECKING:
    from ._worker import Worker
    from .protocols import Codec

__all__ = ["AsyncUdpConnection", "UdpConnection"]

logger = logging.getLogger("workerman.core")

_MAX_DATAGRAM = 65535
_READS_PER_WAKEUP = 64  # then let other connections run
_INITIAL, _CONNECTING, _OPEN, _CLOSED = range(4)


def _encode(codec: Codec | None, data: Any, raw: bool, connection: Any) -> bytes:
    if not raw and codec is not None:
        return codec.encode(data, connection)
    return data.encode() if isinstance(data, str) else bytes(data)


def _decode_datagram(
    codec: Codec | None,
    datagram: bytes,
    connection: Any,
    on_message: Callable[..., Any],
    where: Callable[[], str],
) -> None:
    """Hand each package of one datagram to ``on_message``; bad bytes drop the datagram."""
    if codec is None:
        statistics.total_request += 1
        invoke(on_message, (connection, datagram), where)
        return
    buffer = datagram
    while buffer:
        try:
            length = codec.input(buffer, connection)
            if length <= 0 or length > len(buffer):
                raise ProtocolError(f"datagram of {len(buffer)} bytes holds no whole package")
            message = codec.decode(buffer[:length], connection)
        except Exception as exc:
            statistics.protocol_errors += 1
            logger.warning("%s: datagram dropped: %s", where(), exc)
            return
        buffer = buffer[length:]
        statistics.total_request += 1
        invoke(on_message, (connection, message), where)


def _send(sock: socket.socket, data: bytes, target: Any, on_fail: Callable[[str], None]) -> bool:
    try:
        if target is None:
            sock.send(data)
        else:
            sock.sendto(data, target)
    except OSError as exc:
        statistics.send_fail += 1
        on_fail(f"datagram not sent: {exc.strerror or exc}")
        return False
    return True


class UdpConnection:
    """The sender of one datagram a UDP worker received; ``send`` replies to it."""

    __slots__ = ("_remote", "_socket", "bytes_read", "bytes_written", "protocol", "worker")

    def __init__(self, worker: Worker, sock: socket.socket, remote: Any, size: int) -> None:
        self.worker = worker
        self.protocol = worker._codec
        self._socket = sock
        self._remote = remote
        self.bytes_read = size
        self.bytes_written = 0

    def send(self, data: Any, raw: bool = False) -> bool:
        """Send one datagram to the peer; False when the kernel refused it."""
        payload = _encode(self.protocol, data, raw, self)
        if _send(self._socket, payload, self._remote, self._fail):
            self.bytes_written += len(payload)
            return True
        return False

    def _fail(self, message: str) -> None:
        if self.worker.on_error is not None:
            invoke(self.worker.on_error, (self, SEND_FAIL, message), lambda: "UDP on_error")
        else:
            logger.info("worker %r: %s", self.worker.name, message)

    def close(self, data: Any = None, raw: bool = False) -> None:
        """Send ``data`` if given; a datagram has nothing else to close."""
        if data is not None:
            self.send(data, raw)

    @property
    def transport(self) -> str:
        return "udp"

    @property
    def remote_address(self) -> str:
        return _format_address(self._remote)

    @property
    def remote_ip(self) -> str:
        return _split_address(self._remote)[0]

    @property
    def remote_port(self) -> int:
        return _split_address(self._remote)[1]

    @property
    def local_address(self) -> str:
        return _format_address(self._socket.getsockname())


class UdpServer:
    """Reads datagrams for a worker; private to the core."""

    def __init__(self, worker: Worker, sock: socket.socket) -> None:
        self._worker = worker
        self._socket = sock
        current_loop().on_readable(sock, self._readable)

    def _readable(self, sock: socket.socket) -> None:
        worker = self._worker
        for _ in range(_READS_PER_WAKEUP):
            try:
                data, remote = sock.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error for an earlier reply
                logger.debug("worker %r: recvfrom: %s", worker.name, exc)
                continue
            callback = worker.on_message
            if callback is None:
                continue
            connection = UdpConnection(worker, sock, remote, len(data))
            _decode_datagram(
                worker._codec,
                data,
                connection,
                callback,
                lambda: f"on_message of worker {worker.name!r} (udp)",
            )

    def close(self) -> None:
        current_loop().off_readable(self._socket)
        self._socket.close()


class AsyncUdpConnection:
    """A UDP socket connected to one peer: ``send`` to it, ``on_message`` from it.

    ``AsyncUdpConnection("udp://127.0.0.1:9292")`` or with a protocol scheme such as
    ``"text://host:port"`` (the transport is udp either way). Sends before
    :meth:`connect` has resolved the address are queued.
    """

    __slots__ = (
        "_address",
        "_queue",
        "_socket",
        "_state",
        "bytes_read",
        "bytes_written",
        "on_close",
        "on_connect",
        "on_error",
        "on_message",
        "protocol",
    )

    def __init__(self, remote_address: str) -> None:
        self._address: Address = parse_address(remote_address, "udp")
        self.protocol = self._address.protocol
        self._socket: socket.socket | None = None
        self._state = _INITIAL
        self._queue: list[bytes] = []
        self.bytes_read = 0
        self.bytes_written = 0
        self.on_connect: Callable[..., Any] | None = None
        self.on_message: Callable[..., Any] | None = None
        self.on_close: Callable[..., Any] | None = None
        self.on_error: Callable[..., Any] | None = None

    def connect(self) -> None:
        """Resolve the address and open the socket; ``on_connect`` follows."""
        if self._state in (_CONNECTING, _OPEN):
            return
        self._state = _CONNECTING
        current_loop().spawn(self._connect)

    async def _connect(self) -> None:
        address = self._address
        try:
            infos = await anyio.getaddrinfo(address.host, address.port, type=socket.SOCK_DGRAM)
            family, kind, proto, _, target = infos[0]
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            sock.connect(target)
        except OSError as exc:
            self._state = _CLOSED
            self._queue.clear()
            self._emit_error(CONNECT_FAIL, f"connect {address} failed: {exc}")
            return
        if self._state != _CONNECTING:  # closed while resolving
            sock.close()
            return
        self._socket = sock
        self._state = _OPEN
        current_loop().on_readable(sock, self._readable)
        if self.on_connect is not None:
            invoke(self.on_connect, (self,), lambda: f"on_connect of {address}")
        queue, self._queue = self._queue, []
        for payload in queue:
            self._send_payload(payload)

    def _emit_error(self, code: int, message: str) -> None:
        if self.on_error is not None:
            invoke(self.on_error, (self, code, message), lambda: f"on_error of {self._address}")
        else:
            logger.info("%s: %s", self._address, message)

    def send(self, data: Any, raw: bool = False) -> bool | None:
        """Send one datagram: True when sent, None when queued until connected,
        False when refused by the kernel or after :meth:`close`."""
        payload = _encode(self.protocol, data, raw, self)
        if self._state == _OPEN:
            return self._send_payload(payload)
        if self._state == _CLOSED:
            return False
        self._queue.append(payload)
        return None

    def _send_payload(self, payload: bytes) -> bool:
        assert self._socket is not None
        if _send(self._socket, payload, None, lambda m: self._emit_error(SEND_FAIL, m)):
            self.bytes_written += len(payload)
            return True
        return False

    def _readable(self, sock: socket.socket) -> None:
        for _ in range(_READS_PER_WAKEUP):
            try:
                data = sock.recv(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ICMP port unreachable and kin
                self._emit_error(SEND_FAIL, f"peer {self._address} refused datagrams: {exc}")
                continue
            self.bytes_read += len(data)
            if self.on_message is not None:
                _decode_datagram(
                    self.protocol, data, self, self.on_message, lambda: f"on_message of {self}"
                )

    def close(self, data: Any = None, raw: bool = False) -> None:
        """Send ``data`` if given, then close the socket; ``on_close`` follows."""
        if data is not None:
            self.send(data, raw)
        sock, self._socket = self._socket, None
        self._state = _CLOSED
        self._queue.clear()
        if sock is None:
            return
        current_loop().off_readable(sock)
        sock.close()
        if self.on_close is not None:
            invoke(self.on_close, (self,), lambda: f"on_close of {self._address}")

    @property
    def remote_address(self) -> str:
        return _format_address((self._address.host, self._address.port))

    def __repr__(self) -> str:
        return f"<AsyncUdpConnection {self._address}>"
