"""paho-mqtt's protocol engine, with its socket handed in instead of opened by paho.

paho opens sockets itself, blocking (connect, TLS handshake). Here the socket is
opened by :class:`~._socket.Opener` on the loop's watchers first and passed in as
``prepared``; paho's ``reconnect()`` then only writes CONNECT into it. Everything
else is paho's public surface: ``loop_read`` when bytes came in, ``loop_write`` when
it asked to write, ``loop_misc`` on a timer for keepalive.
"""

from __future__ import annotations

from typing import Any

from paho.mqtt.client import Client

__all__ = ["Engine", "reason_of"]


class Engine(Client):
    """paho's Client, fed a ready socket by the caller."""

    prepared: Any = None

    def _create_socket(self) -> Any:
        sock, self.prepared = self.prepared, None
        if sock is None:
            raise OSError("no connected socket was prepared for the MQTT engine")
        return sock


def reason_of(reason: Any) -> tuple[int, str]:
    """(code, name) of a paho ReasonCode, or of a plain int."""
    value = getattr(reason, "value", reason)
    try:
        code = int(value)
    except (TypeError, ValueError):
        code = -1
    name = reason.getName() if hasattr(reason, "getName") else str(reason)
    return code, name
