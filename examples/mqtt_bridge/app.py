"""An IoT gateway: devices speak MQTT, users speak WebSocket, one process bridges them.

    python examples/mqtt_bridge/app.py start

Every message a device publishes to ``devices/<id>/telemetry`` goes to every connected
WebSocket user as ``<topic> <payload>``; what a user sends is published to
``devices/all/cmd`` (QoS 1). Settings from the environment: MQTT_URL (default
mqtt://127.0.0.1:1883), BRIDGE_PORT (default 8080; 0 picks a free port, printed at
start), BRIDGE_PREFIX (default ``devices``).
"""

from __future__ import annotations

import logging
import os

from workerman.core import TcpConnection, Worker
from workerman.mqtt import Message, MqttClient

MQTT_URL = os.environ.get("MQTT_URL", "mqtt://127.0.0.1:1883")
PORT = int(os.environ.get("BRIDGE_PORT", "8080"))
PREFIX = os.environ.get("BRIDGE_PREFIX", "devices")

logger = logging.getLogger("mqtt_bridge")

# made here, in the master, before the worker forks: it touches no loop until connect()
mqtt = MqttClient(MQTT_URL, will=(f"{PREFIX}/bridge/status", b"offline", 1, True))
bridge = Worker(f"websocket://0.0.0.0:{PORT}", name="mqtt-bridge")


def forward(message: Message) -> None:
    text = f"{message.topic} {message.payload.decode(errors='replace')}"
    for connection in bridge.connections.values():
        connection.send(text)


def command_sent(_result: object, error: BaseException | None) -> None:
    if error is not None:
        logger.warning("a command was not delivered: %s", error)


def on_message(connection: TcpConnection, text: str) -> None:
    mqtt.publish(f"{PREFIX}/all/cmd", text, qos=1, callback=command_sent)


async def on_worker_start(worker: Worker) -> None:
    mqtt.on_message = forward
    await mqtt.connect()
    await mqtt.subscribe(f"{PREFIX}/+/telemetry", qos=1)
    await mqtt.publish(f"{PREFIX}/bridge/status", b"online", qos=1, retain=True)
    print(f"bridge: ws://127.0.0.1:{worker.listening[1]}/ <-> {MQTT_URL}", flush=True)


async def on_worker_stop(worker: Worker) -> None:
    await mqtt.publish(f"{PREFIX}/bridge/status", b"offline", qos=1, retain=True)
    await mqtt.disconnect()


bridge.on_worker_start = on_worker_start
bridge.on_worker_stop = on_worker_stop
bridge.on_message = on_message

if __name__ == "__main__":
    Worker.run_all()
