"""Proxies: which one a URL goes through, and the sans-IO handshakes that open a tunnel
through one (HTTP CONNECT, SOCKS5 with or without a user name and password).

Through an HTTP proxy, http:// requests go to the proxy in absolute form; https:// ones
go through a CONNECT tunnel, with TLS to the origin inside it. Through SOCKS5, every
request goes through a tunnel; host names are resolved by the proxy (as socks5h:// means
elsewhere).
"""

from __future__ import annotations

import ipaddress
import struct
import urllib.request
from urllib.parse import unquote, urlsplit

from ._auth import BasicAuth
from ._exceptions import InvalidURL, LimitError, ProtocolError, ProxyError
from ._parser import ResponseHead, ResponseParser
from ._url import URL

__all__ = ["ConnectTunnel", "Proxy", "Socks5Tunnel", "Tunnel", "proxy_for"]

_SCHEMES = {"http": 80, "socks5": 1080, "socks5h": 1080}


class Proxy:
    """A proxy server: ``http://[user:password@]host:port`` or ``socks5://...``."""

    __slots__ = ("host", "kind", "password", "port", "text", "username")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise InvalidURL(f"proxy {url!r}: the scheme must be http, socks5 or socks5h")
        if not parts.hostname:
            raise InvalidURL(f"proxy {url!r}: no host")
        self.kind = "http" if scheme == "http" else "socks5"
        self.host = parts.hostname
        try:
            self.port = parts.port or _SCHEMES[scheme]
        except ValueError as exc:
            raise InvalidURL(f"proxy {url!r}: {exc}") from None
        self.username = unquote(parts.username) if parts.username is not None else None
        self.password = unquote(parts.password) if parts.password is not None else None
        self.text = f"{scheme}://{self.host}:{self.port}"  # no credentials: for keys and logs

    def authorization(self) -> str | None:
        """The Proxy-Authorization value for an HTTP proxy with credentials."""
        if self.username is None:
            return None
        return BasicAuth(self.username, self.password or "").header()

    def __repr__(self) -> str:
        return f"Proxy({self.text!r})"


def proxy_for(url: URL, proxy: Proxy | None, trust_env: bool) -> Proxy | None:
    """The proxy ``url`` goes through: the one given, else (with ``trust_env``) the
    HTTP_PROXY / HTTPS_PROXY / ALL_PROXY variables, minus NO_PROXY."""
    if proxy is not None or not trust_env:
        return proxy
    found = urllib.request.getproxies_environment()
    chosen = found.get(url.scheme) or found.get("all")
    if not chosen:
        return None
    bypass = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009 (untyped)
    if bypass(url.host, found):
        return None
    return Proxy(chosen)


class Tunnel:
    """A handshake that turns a connection to a proxy into a pipe to the origin."""

    def start(self) -> bytes:
        """The first bytes to send."""
        raise ProxyError("no tunnel")  # pragma: no cover - every tunnel defines it

    def feed(self, data: bytes) -> tuple[bytes, bool, bytes]:
        """(bytes to send, tunnel open, bytes after the handshake) for bytes received;
        ProxyError when the proxy refuses."""
        raise ProxyError("no tunnel")  # pragma: no cover


class ConnectTunnel(Tunnel):
    """HTTP CONNECT (RFC 9110 9.3.6)."""

    def __init__(self, host: str, port: int, proxy: Proxy) -> None:
        self.target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.proxy = proxy
        self.parser = ResponseParser(max_head_size=16 * 1024)
        self.parser.expect("CONNECT")

    def start(self) -> bytes:
        lines = [f"CONNECT {self.target} HTTP/1.1", f"Host: {self.target}"]
        authorization = self.proxy.authorization()
        if authorization is not None:
            lines.append(f"Proxy-Authorization: {authorization}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def feed(self, data: bytes) -> tuple[bytes, bool, bytes]:
        try:
            events = self.parser.feed(data)
        except (ProtocolError, LimitError) as exc:
            raise ProxyError(f"the proxy {self.proxy.text} answered CONNECT with {exc}") from None
        for event in events:
            if isinstance(event, ResponseHead) and event.status >= 200:
                if event.status >= 300:
                    raise ProxyError(
                        f"the proxy {self.proxy.text} refused CONNECT {self.target}: "
                        f"{event.status} {event.reason}"
                    )
                return b"", True, self.parser.unread
        return b"", False, b""


class Socks5Tunnel(Tunnel):
    """SOCKS5 (RFC 1928) with no authentication or user name and password (RFC 1929)."""

    _REPLIES = {
        1: "general failure",
        2: "connection not allowed by ruleset",
        3: "network unreachable",
        4: "host unreachable",
        5: "connection refused",
        6: "TTL expired",
        7: "command not supported",
        8: "address type not supported",
    }

    def __init__(self, host: str, port: int, proxy: Proxy) -> None:
        self.host = host
        self.port = port
        self.proxy = proxy
        self.buffer = b""
        self.step = "method"

    def start(self) -> bytes:
        methods = b"\x00\x02" if self.proxy.username is not None else b"\x00"
        return bytes([5, len(methods)]) + methods

    def _request(self) -> bytes:
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            name = self.host.encode("idna")
            if len(name) > 255:
                raise ProxyError("host name too long for SOCKS5") from None
            target = bytes([3, len(name)]) + name
        else:
            target = (b"\x01" if address.version == 4 else b"\x04") + address.packed
        return b"\x05\x01\x00" + target + struct.pack("!H", self.port)

    def feed(self, data: bytes) -> tuple[bytes, bool, bytes]:
        self.buffer += data
        buf = self.buffer
        if self.step == "method":
            if len(buf) < 2:
                return b"", False, b""
            if buf[0] != 5:
                raise ProxyError(f"{self.proxy.text} does not speak SOCKS5")
            method, self.buffer = buf[1], buf[2:]
            if method == 0:
                self.step = "reply"
                return self._request(), False, b""
            if method == 2 and self.proxy.username is not None:
                user = self.proxy.username.encode()
                password = (self.proxy.password or "").encode()
                self.step = "auth"
                return bytes([1, len(user)]) + user + bytes([len(password)]) + password, False, b""
            raise ProxyError(f"{self.proxy.text} accepts none of our SOCKS5 methods")
        if self.step == "auth":
            if len(buf) < 2:
                return b"", False, b""
            if buf[1] != 0:
                raise ProxyError(f"{self.proxy.text} refused the SOCKS5 user name or password")
            self.buffer = buf[2:]
            self.step = "reply"
            return self._request(), False, b""
        if len(buf) < 5:
            return b"", False, b""
        if buf[0] != 5:
            raise ProxyError(f"{self.proxy.text} sent a malformed SOCKS5 reply")
        if buf[1] != 0:
            reason = self._REPLIES.get(buf[1], f"error {buf[1]}")
            raise ProxyError(f"{self.proxy.text} could not connect to {self.host}: {reason}")
        kind = buf[3]
        size = {1: 4, 4: 16}.get(kind, buf[4] + 1 if kind == 3 else -1)
        if size < 0:
            raise ProxyError(f"{self.proxy.text} sent a malformed SOCKS5 reply")
        end = 4 + size + 2
        if len(buf) < end:
            return b"", False, b""
        return b"", True, buf[end:]
