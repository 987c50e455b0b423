"""``$share/group/filter``: two worker processes split one stream, each message reaching
exactly one of them."""

from __future__ import annotations

import sys

import anyio
import pytest

from workerman.mqtt import MqttClient

from .conftest import python_env

pytestmark = pytest.mark.anyio

CONSUMER = """
import sys, anyio
from workerman.mqtt import MqttClient

async def main():
    client = MqttClient(sys.argv[1])
    await client.connect()
    await client.subscribe(sys.argv[2], qos=1)
    print("ready", flush=True)
    async for message in client.messages():
        print(message.payload.decode(), flush=True)

anyio.run(main)
"""


async def test_a_shared_subscription_splits_messages_between_two_processes(
    loop: None, mqtt_url: str, prefix: str
) -> None:
    shared = f"$share/g{prefix[-12:]}/{prefix}/jobs"
    seen: list[list[str]] = [[], []]
    ready = [anyio.Event(), anyio.Event()]
    done = anyio.Event()
    total = 60

    async def consume(index: int, process: anyio.abc.Process) -> None:
        assert process.stdout is not None
        buffer = b""
        async for chunk in process.stdout:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line == b"ready":
                    ready[index].set()
                else:
                    seen[index].append(line.decode())
            if len(seen[0]) + len(seen[1]) >= total:
                done.set()

    command = [sys.executable, "-c", CONSUMER, mqtt_url, shared]
    async with (
        await anyio.open_process(command, env=python_env()) as first,
        await anyio.open_process(command, env=python_env()) as second,
    ):
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(consume, 0, first)
                group.start_soon(consume, 1, second)
                with anyio.fail_after(15):
                    await ready[0].wait()
                    await ready[1].wait()
                    async with MqttClient(mqtt_url) as publisher:
                        for index in range(total):
                            await publisher.publish(f"{prefix}/jobs", str(index), qos=1)
                    await done.wait()
                group.cancel_scope.cancel()
        finally:
            first.kill()
            second.kill()
    assert sorted(seen[0] + seen[1], key=int) == [str(i) for i in range(total)]
    assert seen[0] and seen[1]  # both got a share
