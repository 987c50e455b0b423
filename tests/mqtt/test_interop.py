"""Interop with Mosquitto's own clients, both ways, and wills published when a client
process dies (kill -9) without DISCONNECT."""

from __future__ import annotations

import signal
import subprocess
import sys
from urllib.parse import urlsplit

import anyio
import pytest

from workerman.mqtt import MqttClient

from .conftest import need, python_env

pytestmark = pytest.mark.anyio


def _host_port(url: str) -> list[str]:
    parts = urlsplit(url)
    return ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 1883)]


@pytest.mark.parametrize("qos", [0, 1, 2])
async def test_mosquitto_sub_receives_what_we_publish(
    loop: None, mqtt_url: str, prefix: str, qos: int
) -> None:
    topic = f"{prefix}/to-mosquitto"
    command = [need("mosquitto_sub"), *_host_port(mqtt_url), "-t", topic, "-q", str(qos)]
    command += ["-C", "3", "-v", "-W", "10"]
    async with await anyio.open_process(command) as sub, MqttClient(mqtt_url) as client:
        # mosquitto_sub has subscribed once a retained message reaches it
        await client.publish(topic, b"retained first", qos=1, retain=True)
        assert sub.stdout is not None
        lines = b""
        while b"\n" not in lines:
            lines += await sub.stdout.receive()
        for payload in (b"second", b"third"):
            await client.publish(topic, payload, qos=qos)
        while lines.count(b"\n") < 3:
            lines += await sub.stdout.receive()
        await sub.wait()
        await client.publish(topic, b"", qos=1, retain=True)  # clear the retained message
    assert lines.decode().splitlines() == [
        f"{topic} retained first",
        f"{topic} second",
        f"{topic} third",
    ]


@pytest.mark.parametrize("qos", [0, 1, 2])
async def test_we_receive_what_mosquitto_pub_publishes(
    loop: None, mqtt_url: str, prefix: str, qos: int
) -> None:
    topic = f"{prefix}/from-mosquitto"
    pub = [need("mosquitto_pub"), *_host_port(mqtt_url), "-t", topic, "-q", str(qos)]
    async with MqttClient(mqtt_url) as client:
        await client.subscribe(f"{prefix}/#", qos=2)
        stream = client.messages()
        await anyio.run_process([*pub, "-m", "kept", "-r"])
        await anyio.run_process([*pub, "-m", "hello from mosquitto_pub"])
        first, second = await anext(stream), await anext(stream)
        await anyio.run_process([*pub, "-n", "-r"])  # clear the retained message
    assert (first.topic, first.payload, first.qos) == (topic, b"kept", qos)
    assert (second.payload, second.qos, second.retain) == (b"hello from mosquitto_pub", qos, False)
    async with MqttClient(mqtt_url) as late:
        # a late subscriber gets the retained message, flagged so
        await anyio.run_process([*pub, "-m", "kept again", "-r"])
        await late.subscribe(topic, qos=1)
        message = await anext(late.messages())
        assert (message.payload, message.retain) == (b"kept again", True)
        await late.publish(topic, b"", qos=1, retain=True)


WILL_CLIENT = """
import sys, anyio
from workerman.core import create_loop
from workerman.mqtt import MqttClient, Will

async def main():
    async with create_loop("asyncio").open():
        client = MqttClient(sys.argv[1], protocol=int(sys.argv[3]),
                            will=Will(sys.argv[2], b"gone", 1, False))
        await client.connect()
        print("connected", flush=True)
        await anyio.sleep_forever()

anyio.run(main)
"""


@pytest.mark.parametrize("protocol", [5, 4], ids=["mqtt5", "mqtt311"])
async def test_the_will_is_published_when_the_client_process_is_killed(
    loop: None, mqtt_url: str, prefix: str, protocol: int
) -> None:
    will_topic = f"{prefix}/status"
    async with MqttClient(mqtt_url) as watcher:
        await watcher.subscribe(will_topic, qos=1)
        stream = watcher.messages()
        process = subprocess.Popen(
            [sys.executable, "-c", WILL_CLIENT, mqtt_url, will_topic, str(protocol)],
            stdout=subprocess.PIPE,
            env=python_env(),
        )
        try:
            assert process.stdout is not None
            line = await anyio.to_thread.run_sync(process.stdout.readline)
            assert line == b"connected\n"
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            message = await anext(stream)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert (message.topic, message.payload, message.qos) == (will_topic, b"gone", 1)


async def test_no_will_after_a_clean_disconnect(loop: None, mqtt_url: str, prefix: str) -> None:
    will_topic = f"{prefix}/status"
    async with MqttClient(mqtt_url) as watcher:
        await watcher.subscribe(f"{prefix}/#", qos=1)
        stream = watcher.messages()
        client = MqttClient(mqtt_url, will=(will_topic, b"gone", 1, False))
        await client.connect()
        await client.disconnect()
        # a marker published after the disconnect arrives first: no will came before it
        await watcher.publish(f"{prefix}/marker", b"after", qos=1)
        assert (await anext(stream)).topic == f"{prefix}/marker"
