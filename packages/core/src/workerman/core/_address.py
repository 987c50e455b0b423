"""Listen and connect addresses: ``scheme://host:port`` or ``unix:///path``."""

from __future__ import annotations

from dataclasses import dataclass

from ._exceptions import ServerError
from .protocols._codec import Codec
from .protocols._registry import get_protocol, is_transport

__all__ = ["Address", "parse_address"]

TRANSPORTS = ("tcp", "udp", "unix", "ssl")
# schemes that imply TLS, and the default ports of URL-like schemes
_SECURE = frozenset({"wss"})
_DEFAULT_PORTS = {"ws": 80, "wss": 443, "http": 80}


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed address. ``transport`` is tcp, udp or unix; ``tls`` is set by ``ssl://``."""

    text: str
    scheme: str
    transport: str
    protocol: Codec | None
    host: str = ""
    port: int = 0
    path: str | None = None
    tls: bool = False
    #: what follows host:port in a URL-like address (``/chat?room=1``), for ws:// clients
    target: str = ""

    def __str__(self) -> str:
        return self.text


def split_host_port(text: str, where: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ServerError(f"{where}: expected host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if port > 65535:
        raise ServerError(f"{where}: port {port} is out of range")
    if not host:
        raise ServerError(f"{where}: the host is missing")
    return host, port


def parse_address(text: str, transport: str | None = None) -> Address:
    """Parse ``text``; ``transport`` (tcp, udp, unix, ssl) overrides the one the scheme implies.

    Raises:
        ServerError: malformed address, unknown scheme or transport.
    """
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or not scheme or not rest:
        raise ServerError(f"address {text!r} must look like scheme://host:port or unix:///path")
    protocol: Codec | None = None
    if is_transport(scheme):
        chosen = scheme
    else:
        protocol = get_protocol(scheme)
        chosen = "tcp"
    if transport is not None:
        if transport not in TRANSPORTS:
            raise ServerError(
                f"unknown transport {transport!r}; use one of {', '.join(TRANSPORTS)}"
            )
        chosen = transport
    tls = chosen == "ssl" or (scheme in _SECURE and transport is None)
    if tls:
        chosen = "tcp"
    if chosen == "unix":
        return Address(text, scheme, "unix", protocol, path=rest)
    target = ""
    if protocol is not None and "/" in rest:
        rest, slash, tail = rest.partition("/")
        target = slash + tail
    elif protocol is not None and "?" in rest:
        rest, mark, tail = rest.partition("?")
        target = "/" + mark + tail
    default = _DEFAULT_PORTS.get(scheme)
    if default is not None and (not rest.rpartition(":")[2].isdigit() or rest.endswith("]")):
        rest = f"{rest}:{default}"
    host, port = split_host_port(rest, f"address {text!r}")
    return Address(text, scheme, chosen, protocol, host, port, tls=tls, target=target)
