"""Clients we did not write, for the checks: paho-mqtt's own loop thread."""

from __future__ import annotations

import queue
import time
import uuid
from types import TracebackType
from typing import Any

import paho.mqtt.client as paho

MQTT = ("127.0.0.1", 1883)


class Mqtt:
    """A paho-mqtt client on the local broker; messages arrive in a queue."""

    def __init__(self) -> None:
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, f"docs-{uuid.uuid4().hex}")
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))

    def __enter__(self) -> Mqtt:
        self.client.connect(*MQTT)
        self.client.loop_start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        # a round trip through the broker: once our own probe is back, the SUBSCRIBE is in
        probe = topic.replace("+", "probe")
        self.client.publish(probe, b"\0probe", qos=1).wait_for_publish(10)
        while self.next_message() != (probe, b"\0probe"):
            pass

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def next_message(self, timeout: float = 10) -> tuple[str, bytes]:
        return self.messages.get(timeout=timeout)


def publish_until_heard(
    mqtt: Mqtt, ws: Any, topic: str, payload: bytes, timeout: float = 10
) -> str:
    """Publish until the WebSocket client hears it (the bridge subscribes as it starts,
    perhaps after our connection was accepted); what the client heard."""
    deadline = time.monotonic() + timeout
    while True:
        mqtt.publish(topic, payload)
        try:
            return str(ws.recv(timeout=0.5))
        except TimeoutError:
            if time.monotonic() > deadline:
                raise
