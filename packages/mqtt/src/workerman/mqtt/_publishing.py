"""Publishing: straight to paho when the window and the socket allow, else into the
bounded backlog, drained in order as acknowledgements free the window."""

from __future__ import annotations

from typing import Any

from paho.mqtt.client import MQTT_ERR_SUCCESS, error_string
from paho.mqtt.properties import Properties

from workerman.core import current_loop

from ._engine import reason_of
from ._exceptions import (
    MqttClosedError,
    MqttConnectionError,
    MqttError,
    MqttPublishError,
    MqttQueueFullError,
)
from ._pending import DONE, Callback, Pending, call_user
from ._socket import check_payload
from ._state import ClientState
from ._topics import check_topic

__all__ = ["Publish", "Publishing"]


class Publish:
    __slots__ = ("payload", "pending", "properties", "qos", "retain", "topic")

    def __init__(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        properties: Any,
        pending: Pending | None,
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.pending = pending


class Publishing(ClientState):
    # -- publish -------------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes | str | float | None = b"",
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
        *,
        callback: Callback | None = None,
    ) -> Any:
        """Publish a message.

        Awaited, it returns when the broker has acknowledged it (QoS 1: PUBACK, QoS 2:
        PUBCOMP), or for QoS 0 once it is in the socket's buffer. With ``callback`` it
        returns None and calls ``callback(None, error)`` then. While disconnected, or
        with ``max_inflight`` unacknowledged, the message waits in the backlog.

        Raises:
            MqttError: a bad topic, QoS or payload (at once, before anything is sent).
            MqttQueueFullError: the backlog holds ``max_queued_messages``.
            MqttPublishError: the broker refused it (MQTT 5 reason code >= 0x80).
            MqttTimeoutError: no acknowledgement within ``timeout``.
            MqttClosedError: the client was closed first.
        """
        check_topic(topic)
        if qos not in (0, 1, 2):
            raise MqttError(f"qos must be 0, 1 or 2, not {qos!r}")
        data = check_payload(payload)
        self._check_loop()
        self.statistics.published += 1
        state = self._state
        if qos == 0 and state == "connected" and not self._backlog and not self._transport_full():
            rc = self._send_qos0(topic, data, retain, properties)
            if callback is None:
                if rc:
                    raise MqttConnectionError(f"publish failed: {error_string(rc)}")
                return DONE
            call_user(callback, None, MqttConnectionError(error_string(rc)) if rc else None)
            return None
        pending = Pending(callback, self._deadline(self.timeout))
        request = Publish(topic, data, qos, retain, properties, pending)
        if state in ("closing", "closed"):
            pending.fail(MqttClosedError("the client is closed"))
        elif (
            state == "connected"
            and not self._backlog
            and (qos == 0 or len(self._inflight) < self._window)
        ):
            self._send(request)
        elif len(self._backlog) >= self.max_queued_messages:
            self.statistics.queue_full += 1
            pending.fail(
                MqttQueueFullError(
                    f"{len(self._backlog)} publishes already wait to be sent "
                    f"(max_queued_messages={self.max_queued_messages})"
                )
            )
        else:
            self._backlog.append(request)
        return pending.awaitable

    def _transport_full(self) -> bool:
        transport = self._transport
        return transport is not None and transport.full

    def _send_qos0(self, topic: str, data: bytes, retain: bool, properties: Any) -> int:
        assert self._engine is not None
        return int(self._engine.publish(topic, data, 0, retain, properties).rc)

    def _send(self, request: Publish) -> None:
        engine = self._engine
        assert engine is not None
        info = engine.publish(
            request.topic, request.payload, request.qos, request.retain, request.properties
        )
        if info.rc != MQTT_ERR_SUCCESS:
            if request.pending is not None:
                request.pending.fail(MqttConnectionError(f"publish: {error_string(info.rc)}"))
            return
        if request.qos:
            self._inflight[info.mid] = request
        elif request.pending is not None:
            request.pending.resolve(None)

    def _schedule_drain(self) -> None:
        if not self._drain_scheduled and self._backlog:
            self._drain_scheduled = True
            current_loop().call_soon(self._drain_backlog)

    def _drain_backlog(self) -> None:
        """Send from the backlog, in order, while the window and the socket allow."""
        self._drain_scheduled = False
        backlog = self._backlog
        while backlog and self._state == "connected":
            head = backlog[0]
            if head.qos and len(self._inflight) >= self._window:
                return
            if not head.qos and self._transport_full():
                return
            backlog.popleft()
            self._send(head)

    def _on_publish_ack(self, mid: int, reason: Any) -> None:
        request = self._inflight.pop(mid, None)
        if request is None:
            return  # a QoS 0 message written out
        self.statistics.acknowledged += 1
        pending = request.pending
        if pending is not None:
            code, name = reason_of(reason)
            if code >= 0x80:
                pending.fail(MqttPublishError("the broker refused the publish", code, name))
            else:
                pending.resolve(None)
        if self._backlog:
            self._drain_backlog()
