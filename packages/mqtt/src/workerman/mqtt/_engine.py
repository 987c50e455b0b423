"""paho-mqtt's protocol engine, with its socket handed in instead of opened by paho.

paho opens sockets itself, blocking (connect, TLS handshake). Here the socket is
opened by :class:`~._socket.Opener` on the loop's watchers first and passed in as
``prepared``; paho's ``reconnect()`` then only writes CONNECT into it. Everything
else is paho's public surface: ``loop_read`` when bytes came in, ``loop_write`` when
it asked to write, ``loop_misc`` on a timer for keepalive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paho.mqtt.client import Client
from paho.mqtt.enums import MQTTErrorCode

__all__ = ["Engine", "reason_of"]


class Engine(Client):
    """paho's Client, fed a ready socket by the caller."""

    prepared: Any = None
    #: ``on_ack(mid, reason_code)`` when a QoS 1/2 publish is acknowledged. Used instead
    #: of paho's ``on_publish``, which paho also calls for every QoS 0 message written,
    #: building a ReasonCode and a Properties object each time: a third of a QoS 0
    #: publish's CPU.
    on_ack: Callable[[int, Any], None] | None = None

    def _do_on_publish(self, mid: int, reason_code: Any, properties: Any) -> MQTTErrorCode:
        rc = super()._do_on_publish(mid, reason_code, properties)
        if self.on_ack is not None:
            self.on_ack(mid, reason_code)
        return rc

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
