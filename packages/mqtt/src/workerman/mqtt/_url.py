"""Broker addresses: ``mqtt://``, ``mqtts://``, ``ws://``, ``wss://`` URLs with credentials."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ._exceptions import MqttError

__all__ = ["BrokerAddress", "parse_url"]

_SCHEMES = {
    "mqtt": (False, False, 1883),
    "tcp": (False, False, 1883),
    "mqtts": (True, False, 8883),
    "ssl": (True, False, 8883),
    "ws": (False, True, 80),
    "wss": (True, True, 443),
}


@dataclass(frozen=True)
class BrokerAddress:
    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    websocket: bool = False
    path: str = "/mqtt"
    username: str | None = None
    password: str | None = None


def parse_url(url: str) -> BrokerAddress:
    """``scheme://[user[:password]@]host[:port][/path]``; the path matters for ws/wss only
    (default ``/mqtt``)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise MqttError(
            f"unsupported MQTT URL {url!r}: the scheme must be one of {', '.join(_SCHEMES)}"
        )
    tls, websocket, default_port = _SCHEMES[scheme]
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise MqttError(f"bad port in MQTT URL {url!r}") from exc
    if not parts.hostname:
        raise MqttError(f"no host in MQTT URL {url!r}")
    path = parts.path or "/mqtt"
    if parts.query:
        path = f"{path}?{parts.query}"
    return BrokerAddress(
        host=parts.hostname,
        port=port,
        tls=tls,
        websocket=websocket,
        path=path,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
