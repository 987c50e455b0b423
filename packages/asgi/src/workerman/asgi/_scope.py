"""From a parsed request to an ASGI scope: raw header pairs, path, client.

Clients send the same head over and over, so the scope's parts that come from the head
alone (method, version, path, query, header list) are kept per head seen before, and a
request of such a head starts from a copy of them instead of parsing its head (the list
is copied too, since an app may change its scope's).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

from workerman.core.http import HeadCache

if TYPE_CHECKING:
    from workerman.core.http import Request

__all__ = ["Heads", "Trusted", "header_pairs", "split_target"]

Headers = list[tuple[bytes, bytes]]
#: what a head gives: the scope's part from it, its header list, whether it asks for a
#: WebSocket upgrade, whether it has X-Forwarded-* headers
Known = tuple[dict[str, Any], Headers, bool, bool]

_ASGI: Final = {"version": "3.0", "spec_version": "2.4"}


def header_pairs(head: bytes) -> tuple[Headers, bool, bool]:
    """The header fields of a request head as ``(lower-cased name, value)`` byte pairs,
    in order; whether it asks for a WebSocket upgrade; whether it has X-Forwarded-*."""
    pairs: Headers = []
    upgrade = forwarded = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.lower()
        value = value.strip(b" \t")
        if name == b"upgrade" and value.lower() == b"websocket":
            upgrade = True
        elif name.startswith(b"x-forwarded-"):
            forwarded = True
        pairs.append((name, value))
    return pairs, upgrade, forwarded


class Heads:
    """The scope parts of the heads a worker has seen twice (``cache.known`` is looked up
    by the request's head bytes; ``learn`` parses one it has not). A head is kept the
    second time it comes, as the core keeps its analysis of heads (the same
    :class:`~workerman.core.http.HeadCache`): most heads never come again."""

    __slots__ = ("cache", "root_path", "scheme")

    def __init__(self, root_path: str, secure: bool) -> None:
        self.root_path = root_path
        self.scheme = "https" if secure else "http"
        self.cache: HeadCache[Known] = HeadCache()

    def learn(self, request: Request) -> Known:
        """What ``request``'s head gives, kept for the next request of the same head."""
        head = request.raw_head
        pairs, upgrade, forwarded = header_pairs(head)
        path, raw_path, query = split_target(request.uri)
        root = self.root_path
        part: dict[str, Any] = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": request.protocol_version,
            "scheme": self.scheme,
            "method": request.method,
            "root_path": root,
            "path": root + path if root else path,
            "raw_path": raw_path,
            "query_string": query,
        }
        found = (part, pairs, upgrade, forwarded)
        self.cache.offer(head, found)
        return found


def split_target(uri: str) -> tuple[str, bytes, bytes]:
    """``(path, raw_path, query_string)`` of a request target: the path percent-decoded
    as UTF-8, the raw path and query as sent."""
    if uri[0] != "/":  # absolute-form (a proxy request), or * for OPTIONS
        _, sep, rest = uri.partition("://")
        if sep:
            uri = "/" + rest.partition("/")[2]
    raw, _, query = uri.partition("?")
    raw = raw.partition("#")[0]
    raw_path = raw.encode("latin-1")
    if "%" in raw or not raw.isascii():
        path = unquote(raw_path.decode("utf-8", "replace") if not raw.isascii() else raw)
    else:
        path = raw
    return path, raw_path, query.partition("#")[0].encode("latin-1")


class Trusted:
    """The proxies whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed:
    addresses and networks (``"127.0.0.1"``, ``"10.0.0.0/8"``), or ``"*"`` for any."""

    __slots__ = ("_any", "_hosts", "_networks")

    def __init__(self, spec: str | Iterable[str]) -> None:
        items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
        self._any = "*" in items
        self._hosts: set[str] = set()
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in items:
            if not item or item == "*":
                continue
            if "/" in item:
                self._networks.append(ipaddress.ip_network(item, strict=False))
            else:
                self._hosts.add(str(ipaddress.ip_address(item)))

    def __bool__(self) -> bool:
        return self._any or bool(self._hosts) or bool(self._networks)

    def __contains__(self, host: str) -> bool:
        if self._any or host in self._hosts:
            return True
        if not self._networks:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def client(self, forwarded_for: str) -> str:
        """The client a chain of ``X-Forwarded-For`` hops names: the nearest hop that
        is not one of ours (or the farthest, when all are)."""
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if hop not in self:
                return hop
        return hops[0] if hops else ""
