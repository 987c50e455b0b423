"""The client in plain scripts: asyncio.run, uvloop.run and trio.run, no workerman
setup; one client used across two event loops in turn keeps its subscriptions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest
import trio
import uvloop

from workerman.mqtt import MqttClient, _client


async def _round_trip(client: MqttClient, topic: str, payload: bytes) -> bytes:
    await client.connect()
    stream = client.messages(topic)
    await client.subscribe(topic, qos=1)
    await client.publish(topic, payload, qos=1)
    message = await anext(stream)
    return message.payload


def test_one_client_on_asyncio_run_then_uvloop_then_trio(mqtt_url: str, prefix: str) -> None:
    client = MqttClient(mqtt_url)
    topic = f"{prefix}/anyloop"
    assert asyncio.run(_round_trip(client, topic, b"asyncio")) == b"asyncio"
    assert uvloop.run(_round_trip(client, topic, b"uvloop")) == b"uvloop"
    assert trio.run(_round_trip, client, topic, b"trio") == b"trio"
    assert client.status()["connects"] == 3

    async def close() -> None:
        await client.disconnect()

    asyncio.run(close())
    assert client.status()["state"] == "closed"


def test_status_is_registered_for_the_workers_status_command(
    mqtt_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered: dict[str, Callable[[], Mapping[str, object]]] = {}

    def register(name: str, report: Callable[[], Mapping[str, object]]) -> Callable[[], None]:
        registered[name] = report
        return lambda: registered.pop(name)

    monkeypatch.setattr(_client, "register_status", register)
    client = MqttClient(mqtt_url, client_id="status-probe")

    async def main() -> Mapping[str, object]:
        await client.connect()
        report = registered["mqtt status-probe"]()
        await client.disconnect()
        return report

    report = asyncio.run(main())
    assert report["state"] == "connected" and report["connects"] == 1
    assert "mqtt status-probe" not in registered
