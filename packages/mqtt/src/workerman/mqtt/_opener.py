"""Opening a socket without blocking: resolve (through anyio), TCP connect, TLS
handshake and, for ``ws://``/``wss://``, the WebSocket upgrade, each step on the loop's
readiness watchers, the whole within one timeout."""

from __future__ import annotations

import errno
import ipaddress
import socket
import ssl as ssl_module
from collections.abc import Callable
from typing import Any

import anyio

from workerman.core import current_loop

from ._exceptions import MqttConnectionError, MqttTimeoutError
from ._socket import close_socket
from ._websocket import MAX_HEAD, WebSocketCodec, check_upgrade, upgrade_request

__all__ = ["Opener"]

_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN}
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl_module.SSLWantWriteError)

Done = Callable[[Any, BaseException | None], None]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Opener:
    """Opens a connected, non-blocking socket (a TLS one when ``ssl_context`` is given)
    and calls ``done(sock, None)``, or ``done(None, error)``; all within ``timeout``."""

    def __init__(
        self,
        host: str,
        port: int,
        ssl_context: ssl_module.SSLContext | None,
        timeout: float,
        done: Done,
        websocket_path: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.websocket_path = websocket_path
        #: after a WebSocket upgrade: the framing, and bytes that came after the answer
        self.websocket: WebSocketCodec | None = None
        self.leftover = b""
        self._ws_out = b""
        self._ws_key = b""
        self._ws_in = b""
        self._done: Done | None = done
        self._addresses: list[tuple[int, Any]] = []
        self._sock: Any = None
        self._timer = 0
        self._last_error: BaseException | None = None

    def start(self) -> None:
        loop = current_loop()
        self._timer = loop.delay(self.timeout, self._timed_out)
        if _is_ip(self.host):
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            self._addresses = [(family, (self.host, self.port))]
            self._try_next()
        else:
            loop.spawn(self._resolve)

    async def _resolve(self) -> None:
        try:
            infos = await anyio.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            self._finish(None, MqttConnectionError(f"cannot resolve {self.host!r}: {exc}"))
            return
        if self._done is None:
            return
        self._addresses = [(info[0], info[4]) for info in infos]
        self._try_next()

    def _try_next(self) -> None:
        if self._done is None:
            return
        if not self._addresses:
            error = self._last_error or OSError("no address")
            self._finish(None, MqttConnectionError(f"cannot connect to {self._where()}: {error}"))
            return
        family, address = self._addresses.pop(0)
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        code = sock.connect_ex(address)
        if code == 0:
            self._connected()
        elif code in _IN_PROGRESS:
            current_loop().on_writable(sock, self._connect_ready)
        else:
            self._failed_address(OSError(code, errno.errorcode.get(code, str(code))))

    def _connect_ready(self, _fd: Any) -> None:
        current_loop().off_writable(self._sock)
        code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._failed_address(OSError(code, errno.errorcode.get(code, str(code))))
        else:
            self._connected()

    def _failed_address(self, error: OSError) -> None:
        self._last_error = error
        close_socket(self._sock)
        self._sock = None
        self._try_next()

    def _connected(self) -> None:
        if self.ssl_context is None:
            self._ready()
            return
        try:
            self._sock = self.ssl_context.wrap_socket(
                self._sock, server_hostname=self.host, do_handshake_on_connect=False
            )
        except (OSError, ValueError) as exc:
            self._finish(None, MqttConnectionError(f"TLS with {self._where()}: {exc}"))
            return
        self._handshake(None)

    def _handshake(self, _fd: Any) -> None:
        loop = current_loop()
        sock = self._sock
        try:
            sock.do_handshake()
        except ssl_module.SSLWantReadError:
            loop.off_writable(sock)
            loop.on_readable(sock, self._handshake)
            return
        except ssl_module.SSLWantWriteError:
            loop.off_readable(sock)
            loop.on_writable(sock, self._handshake)
            return
        except (OSError, ValueError) as exc:
            self._finish(None, MqttConnectionError(f"TLS handshake with {self._where()}: {exc}"))
            return
        loop.off_readable(sock)
        loop.off_writable(sock)
        self._ready()

    def _ready(self) -> None:
        """TCP (and TLS) is up: done, or on to the WebSocket upgrade."""
        if self.websocket_path is None:
            self._finish(self._sock, None)
            return
        tls = self.ssl_context is not None
        self._ws_out, self._ws_key = upgrade_request(self.host, self.port, self.websocket_path, tls)
        self._ws_write(None)

    def _ws_write(self, _fd: Any) -> None:
        loop = current_loop()
        try:
            sent = self._sock.send(self._ws_out)
        except (*_WOULD_BLOCK, ssl_module.SSLWantReadError):
            sent = 0
        except OSError as exc:
            self._finish(None, MqttConnectionError(f"WebSocket upgrade: {exc}"))
            return
        self._ws_out = self._ws_out[sent:]
        if self._ws_out:
            loop.on_writable(self._sock, self._ws_write)
            return
        loop.off_writable(self._sock)
        loop.on_readable(self._sock, self._ws_read)
        if isinstance(self._sock, ssl_module.SSLSocket) and self._sock.pending():
            self._ws_read(None)

    def _ws_read(self, _fd: Any) -> None:
        try:
            chunk = self._sock.recv(MAX_HEAD)
        except (BlockingIOError, InterruptedError, ssl_module.SSLWantReadError):
            return
        except ssl_module.SSLWantWriteError:
            return
        except OSError as exc:
            self._finish(None, MqttConnectionError(f"WebSocket upgrade: {exc}"))
            return
        if not chunk:
            self._finish(None, MqttConnectionError("the server closed during the upgrade"))
            return
        self._ws_in += chunk
        head, found, rest = self._ws_in.partition(b"\r\n\r\n")
        if not found:
            if len(self._ws_in) > MAX_HEAD:
                self._finish(None, MqttConnectionError("a WebSocket upgrade answer too long"))
            return
        try:
            check_upgrade(head, self._ws_key)
        except MqttConnectionError as exc:
            self._finish(None, exc)
            return
        current_loop().off_readable(self._sock)
        self.websocket = WebSocketCodec()
        self.leftover = rest
        self._finish(self._sock, None)

    def _timed_out(self) -> None:
        self._timer = 0
        self._finish(
            None, MqttTimeoutError(f"connecting to {self._where()} took over {self.timeout}s")
        )

    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def _finish(self, sock: Any, error: BaseException | None) -> None:
        done, self._done = self._done, None
        if done is None:
            if sock is not None:
                close_socket(sock)
            return
        loop = current_loop()
        if self._timer:
            loop.cancel(self._timer)
            self._timer = 0
        if error is not None:
            self._drop()
        done(sock, error)

    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            loop = current_loop()
            loop.off_readable(sock)
            loop.off_writable(sock)
            close_socket(sock)

    def cancel(self) -> None:
        """Give up: nothing is called back, the socket (if any) is closed."""
        if self._done is None:
            return
        self._done = None
        if self._timer:
            current_loop().cancel(self._timer)
            self._timer = 0
        self._drop()
