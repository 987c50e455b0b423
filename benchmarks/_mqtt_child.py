"""One benchmark case in a fresh interpreter: ``python -m benchmarks.mqtt --child SPEC``.

Prints ``RESULT {"messages": n, "seconds": s, "cpu": c}``: the messages of the measured
window, its wall time and this process's CPU time (user + system) over it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio

TOPIC = "bench/mqtt"


async def _workerman(spec: dict[str, Any]) -> tuple[int, float, float]:
    from workerman.core import create_loop
    from workerman.mqtt import MqttClient

    async with create_loop(spec["driver"]).open():
        case, count, payload = spec["case"], spec["count"], b"x" * spec["size"]
        url = spec["url"]
        if case == "receive":
            client = MqttClient(
                url, client_id=spec["client_id"], clean_start=False, session_expiry=300
            )
            stream = client.messages(maxsize=count + 1)
            cpu0, start = time.process_time(), time.perf_counter()
            await client.connect()
            for _ in range(count):
                await anext(stream)
        else:
            client = MqttClient(url, max_inflight=spec["window"])
            await client.connect()
            qos = 1 if case == "publish qos1" else 0
            cpu0, start = time.process_time(), time.perf_counter()
            if qos == 0:
                for _ in range(count):
                    await client.publish(TOPIC, payload, qos=0)
            else:
                await _in_tasks(spec["window"], count, lambda: client.publish(TOPIC, payload, 1))
            await client.publish(TOPIC, b"end", qos=1)  # acknowledged after all the rest
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
        await client.disconnect()
        return count, elapsed, cpu


async def _in_tasks(tasks: int, count: int, publish: Any) -> None:
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await publish()

    async with anyio.create_task_group() as group:
        for _ in range(tasks):
            group.start_soon(worker)


async def _aiomqtt(spec: dict[str, Any]) -> tuple[int, float, float]:
    import aiomqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    case, count, payload = spec["case"], spec["count"], b"x" * spec["size"]
    host, port = spec["host"], spec["port"]
    if case == "receive":
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 300
        client = aiomqtt.Client(
            host,
            port,
            identifier=spec["client_id"],
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=properties,
            max_queued_incoming_messages=0,
        )
        cpu0, start = time.process_time(), time.perf_counter()
        async with client:
            got = 0
            async for _message in client.messages:
                got += 1
                if got == count:
                    break
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
        return count, elapsed, cpu
    client = aiomqtt.Client(
        host, port, protocol=aiomqtt.ProtocolVersion.V5, max_inflight_messages=spec["window"]
    )
    async with client:
        qos = 1 if case == "publish qos1" else 0
        cpu0, start = time.process_time(), time.perf_counter()
        if qos == 0:
            for _ in range(count):
                await client.publish(TOPIC, payload, qos=0)
        else:
            await _in_tasks(spec["window"], count, lambda: client.publish(TOPIC, payload, qos=1))
        await client.publish(TOPIC, b"end", qos=1)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    return count, elapsed, cpu


def child(spec: dict[str, Any]) -> None:
    run = _workerman if spec["client"] == "workerman" else _aiomqtt
    driver = spec["driver"]
    if driver == "trio":
        result = anyio.run(run, spec, backend="trio")
    else:
        result = anyio.run(
            run, spec, backend="asyncio", backend_options={"use_uvloop": driver == "uvloop"}
        )
    messages, seconds, cpu = result
    print("RESULT " + json.dumps({"messages": messages, "seconds": seconds, "cpu": cpu}))
