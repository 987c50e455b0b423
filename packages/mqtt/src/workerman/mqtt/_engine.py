"""paho-mqtt's protocol engine, with its socket handed in instead of opened by paho.

paho opens sockets itself, blocking (connect, TLS handshake). Here the socket is
opened by :class:`~._socket.Opener` on the loop's watchers first and passed in as
``prepared``; paho's ``reconnect()`` then only writes CONNECT into it. Everything
else is paho's public surface: ``loop_read`` when bytes came in, ``loop_write`` when
it asked to write, ``loop_misc`` on a timer for keepalive.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from paho.mqtt.client import (
    Client,
    MQTTMessage,
    MQTTv5,
    MQTTv311,
    mqtt_ms_invalid,
    mqtt_ms_wait_for_pubrel,
)
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ._decode import decode_publish
from ._socket import check_payload

if TYPE_CHECKING:
    from ._client import MqttClient

_REASONS: dict[tuple[str, int], ReasonCode] = {}


def _success(cmd: str, code: int) -> ReasonCode:
    reason = _REASONS.get((cmd, code))
    if reason is None:
        kind = PacketTypes.PUBACK if cmd == "PUBACK" else PacketTypes.PUBCOMP
        reason = _REASONS[cmd, code] = ReasonCode(kind, identifier=code)
    return reason


_NO_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]

__all__ = ["Engine", "new_engine", "reason_of"]


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

    def _handle_pubackcomp(self, cmd: Any) -> MQTTErrorCode:
        """A PUBACK/PUBCOMP that is only a packet id (success, no properties: what
        brokers send nearly always) is handled without decoding a ReasonCode and a
        Properties for it; any other goes to paho's decoder."""
        packet = self._in_packet["packet"]
        size = len(packet)
        # MQTT 5 may add a reason code (success below 0x80: 0x10 is "no matching
        # subscribers") and a property length; without properties, no decoder is needed
        code = packet[2] if size > 2 else 0
        if size > 4 or (size == 4 and packet[3]) or code >= 0x80:
            return super()._handle_pubackcomp(cmd)
        mid = (packet[0] << 8) | packet[1]
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, _success(cmd, code), _NO_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_publish(self) -> MQTTErrorCode:
        """paho's, less three costs per received message: the MQTTMessageInfo (with its
        threading.Condition) that paho's MQTTMessage() makes and only outgoing messages
        use, an empty MQTT 5 Properties (see ``_decode``), and the topic-filter lookup
        before ``on_message``. The QoS handling is
        paho's own: QoS 1 acknowledged after delivery, QoS 2 stored until PUBREL and
        delivered then, once."""
        packet = self._in_packet
        v5 = self._protocol == MQTTProtocolVersion.MQTTv5
        result = decode_publish(packet["command"], packet["packet"], v5)
        message = MQTTMessage.__new__(MQTTMessage)
        message.timestamp = time.monotonic()
        message.state = mqtt_ms_invalid
        message.dup = result.dup
        message.mid = result.mid
        message._topic = result.topic
        message.payload = result.payload
        message.qos = qos = result.qos
        message.retain = result.retain
        message.info = None  # type: ignore[assignment]
        message.properties = result.properties
        if qos == 2:
            rc = self._send_pubrec(message.mid)
            message.state = mqtt_ms_wait_for_pubrel
            with self._in_message_mutex:
                self._in_messages[message.mid] = message
            return rc
        on_message = self.on_message
        if on_message is not None:
            on_message(self, self._userdata, message)
        if qos == 1 and not self._manual_ack:
            return self._send_puback(message.mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

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


def new_engine(client: MqttClient) -> Engine:
    """paho's engine set up from the client's settings, its callbacks pointing back at it."""
    v5 = client.protocol == 5
    engine = Engine(
        CallbackAPIVersion.VERSION2,
        client_id=client.client_id,
        clean_session=None if v5 else client.clean_start,
        protocol=MQTTv5 if v5 else MQTTv311,
        reconnect_on_failure=False,
    )
    engine.max_inflight_messages_set(0)  # the window is ours (see _drain_backlog)
    engine.max_queued_messages_set(0)
    engine.suppress_exceptions = True
    if client.username is not None:
        engine.username_pw_set(client.username, client.password)
    will = client.will
    if will is not None:
        engine.will_set(
            will.topic, check_payload(will.payload), will.qos, will.retain, will.properties
        )
    properties = client.connect_properties
    if v5 and client.session_expiry is not None:
        if properties is None:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = client.session_expiry
    engine.connect_async(
        client.address.host,
        client.address.port,
        client.keepalive,
        clean_start=client.clean_start if v5 else 3,  # 3: paho's "first only" (unused)
        properties=properties if v5 else None,
    )
    engine.on_connect = client._on_connack
    engine.on_disconnect = client._on_engine_disconnect
    engine.on_ack = client._on_publish_ack
    engine.on_subscribe = client._on_suback
    engine.on_unsubscribe = client._on_unsuback
    engine.on_message = client._on_engine_message
    engine.on_socket_register_write = client._want_write
    return engine
