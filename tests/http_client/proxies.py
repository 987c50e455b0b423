"""Small proxies for the tests, in threads: an HTTP proxy (absolute-form requests and
CONNECT tunnels) and a SOCKS5 proxy, each with optional credentials, recording what
clients asked of them."""

from __future__ import annotations

import base64
import select
import socket
import struct
import threading
from urllib.parse import urlsplit


def _pipe(a: socket.socket, b: socket.socket, stop: threading.Event) -> None:
    sockets = [a, b]
    try:
        while not stop.is_set():
            ready, _, _ = select.select(sockets, [], [], 0.1)
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                (b if sock is a else a).sendall(data)
    except OSError:
        return
    finally:
        a.close()
        b.close()


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise OSError("closed")
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


class _Base:
    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)  # before the thread starts: close() may come first
        self.port = self.sock.getsockname()[1]
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._start(self._accept)

    def _start(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (OSError, ValueError):  # a timeout, or the socket closed by close()
                continue
            conn.settimeout(5)
            self._start(self._serve_safely, conn)

    def _serve_safely(self, conn: socket.socket) -> None:
        try:
            self._serve(conn)
        except OSError:
            conn.close()

    def _serve(self, conn: socket.socket) -> None:
        raise OSError("no handler")

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for thread in self._threads:
            thread.join(2)


class HttpProxy(_Base):
    """Forwards absolute-form requests (one per connection to the origin) and tunnels CONNECT."""

    @property
    def url(self) -> str:
        if self.credentials:
            user, password = self.credentials
            return f"http://{user}:{password}@127.0.0.1:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    def _authorized(self, head: bytes) -> bool:
        if self.credentials is None:
            return True
        token = base64.b64encode(":".join(self.credentials).encode()).decode()
        return f"proxy-authorization: basic {token}".lower().encode() in head.lower()

    def _serve(self, conn: socket.socket) -> None:
        head, rest = _read_head(conn)
        line = head.split(b"\r\n", 1)[0].decode()
        self.seen.append(line)
        if not self._authorized(head):
            conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        method, target, _version = line.split(" ")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)), timeout=5)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pipe(conn, upstream, self._stop)
            return
        parts = urlsplit(target)
        upstream = socket.create_connection((parts.hostname, parts.port or 80), timeout=5)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = head.split(b"\r\n")[1:]
        kept = [h for h in lines if not h.lower().startswith(b"proxy-authorization")]
        upstream.sendall(
            f"{method} {path} HTTP/1.1\r\n".encode() + b"\r\n".join(kept) + b"\r\n\r\n" + rest
        )
        _pipe(conn, upstream, self._stop)


class Socks5Proxy(_Base):
    """SOCKS5 CONNECT with no authentication, or user name and password when given."""

    @property
    def url(self) -> str:
        if self.credentials:
            user, password = self.credentials
            return f"socks5://{user}:{password}@127.0.0.1:{self.port}"
        return f"socks5://127.0.0.1:{self.port}"

    def _recv(self, conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            piece = conn.recv(size - len(data))
            if not piece:
                raise OSError("closed")
            data += piece
        return data

    def _serve(self, conn: socket.socket) -> None:
        _version, count = self._recv(conn, 2)
        methods = self._recv(conn, count)
        if self.credentials is not None:
            if 2 not in methods:
                conn.sendall(b"\x05\xff")
                conn.close()
                return
            conn.sendall(b"\x05\x02")
            _v, ulen = self._recv(conn, 2)
            user = self._recv(conn, ulen).decode()
            (plen,) = self._recv(conn, 1)
            password = self._recv(conn, plen).decode()
            if (user, password) != self.credentials:
                conn.sendall(b"\x01\x01")
                conn.close()
                return
            conn.sendall(b"\x01\x00")
        else:
            conn.sendall(b"\x05\x00")
        _v, _cmd, _rsv, kind = self._recv(conn, 4)
        if kind == 3:
            (size,) = self._recv(conn, 1)
            host = self._recv(conn, size).decode()
        elif kind == 1:
            host = socket.inet_ntoa(self._recv(conn, 4))
        else:
            host = socket.inet_ntop(socket.AF_INET6, self._recv(conn, 16))
        (port,) = struct.unpack("!H", self._recv(conn, 2))
        self.seen.append(f"{host}:{port}")
        try:
            upstream = socket.create_connection((host, port), timeout=5)
        except OSError:
            conn.sendall(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
            conn.close()
            return
        conn.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")
        _pipe(conn, upstream, self._stop)
