"""From a parsed request to the parts of an ASGI scope: raw header pairs, path, client.

Clients send the same head over and over, so the header list of a head seen before is
looked up instead of parsed (and copied, since an app may change its scope's list).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import unquote

__all__ = ["Trusted", "header_pairs", "split_target"]

Headers = list[tuple[bytes, bytes]]

_cache: dict[bytes, tuple[Headers, bool, bool]] = {}
_CACHE_SIZE = 1024
_CACHE_HEAD = 2048  # longer heads are parsed each time


def header_pairs(head: bytes) -> tuple[Headers, bool, bool]:
    """The header fields of a request head as ``(lower-cased name, value)`` byte pairs,
    in order; whether it asks for a WebSocket upgrade; whether it has X-Forwarded-*."""
    known = _cache.get(head)
    if known is not None:
        return known[0].copy(), known[1], known[2]
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
    if len(head) <= _CACHE_HEAD:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[head] = (pairs, upgrade, forwarded)
        return pairs.copy(), upgrade, forwarded
    return pairs, upgrade, forwarded


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
