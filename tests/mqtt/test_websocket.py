"""MQTT over WebSocket: ws:// and wss:// through a WebSocket server of the websockets
library that forwards to Mosquitto (this Mosquitto build cannot open a websockets
listener itself), and the framing codec fed any split of the stream."""

from __future__ import annotations

import itertools
import ssl
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from workerman.mqtt import MqttClient, MqttConnectionError
from workerman.mqtt._websocket import WebSocketCodec

from .conftest import python_env

BRIDGE = """
import asyncio, ssl, sys
from websockets.asyncio.server import serve

mqtt_host, mqtt_port = sys.argv[1], int(sys.argv[2])

async def handler(ws):
    if ws.request.path != "/mqtt" or ws.subprotocol != "mqtt":
        await ws.close(1008, "wrong path or subprotocol")
        return
    reader, writer = await asyncio.open_connection(mqtt_host, mqtt_port)

    async def up():
        async for message in ws:
            writer.write(message)
            await writer.drain()
        writer.close()

    async def down():
        while data := await reader.read(65536):
            await ws.send(data)
        await ws.close()

    await asyncio.gather(up(), down(), return_exceptions=True)

async def main():
    context = None
    if len(sys.argv) > 3:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
    async with serve(handler, "127.0.0.1", 0, subprotocols=["mqtt"], ssl=context) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()

asyncio.run(main())
"""


def _bridge(mqtt_url: str, *tls: str) -> Iterator[int]:
    parts = urlsplit(mqtt_url)
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            BRIDGE,
            parts.hostname or "127.0.0.1",
            str(parts.port or 1883),
            *tls,
        ],
        stdout=subprocess.PIPE,
        env=python_env(),
    )
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline())
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def ws_port(mqtt_url: str) -> Iterator[int]:
    yield from _bridge(mqtt_url)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def wss_port(mqtt_url: str, ca: trustme.CA, tmp_path: Path) -> Iterator[int]:
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    yield from _bridge(mqtt_url, str(cert_file), str(key_file))


@pytest.mark.anyio
async def test_mqtt_over_ws(loop: None, ws_port: int, prefix: str) -> None:
    async with MqttClient(f"ws://127.0.0.1:{ws_port}/mqtt") as client:
        await client.subscribe(f"{prefix}/ws", qos=1)
        stream = client.messages()
        big = bytes(range(256)) * 400  # frames over 64 KiB take the 8-byte length
        for payload in (b"small", b"m" * 300, big):
            await client.publish(f"{prefix}/ws", payload, qos=1)
        assert [(await anext(stream)).payload for _ in range(3)] == [b"small", b"m" * 300, big]


@pytest.mark.anyio
async def test_mqtt_over_wss_verifies_the_server(
    loop: None, wss_port: int, ca: trustme.CA, prefix: str
) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with MqttClient(f"wss://127.0.0.1:{wss_port}/mqtt", ssl=context) as client:
        await client.subscribe(f"{prefix}/wss", qos=2)
        stream = client.messages()
        await client.publish(f"{prefix}/wss", b"over wss", qos=2)
        assert (await anext(stream)).payload == b"over wss"
    with pytest.raises(MqttConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await MqttClient(f"wss://127.0.0.1:{wss_port}/mqtt", connect_timeout=3).connect()


@pytest.mark.anyio
async def test_a_websocket_closed_before_connack_is_a_connection_error(
    loop: None, ws_port: int
) -> None:
    # the bridge accepts the upgrade on any path, then closes other paths with 1008
    with pytest.raises(MqttConnectionError, match="before CONNACK"):
        await MqttClient(f"ws://127.0.0.1:{ws_port}/elsewhere", connect_timeout=3).connect()


def _server_frame(payload: bytes, opcode: int = 0x2, fin: bool = True) -> bytes:
    size = len(payload)
    first = (0x80 if fin else 0) | opcode
    if size < 126:
        return struct.pack("!BB", first, size) + payload
    if size < 65536:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload


@settings(max_examples=40)
@given(
    messages=st.lists(st.binary(max_size=70_000), min_size=1, max_size=4),
    pings=st.lists(st.binary(max_size=125), max_size=2),
    cuts=st.lists(st.integers(0, 300_000), max_size=10),
)
def test_the_codec_reads_the_same_bytes_for_any_split(
    messages: list[bytes], pings: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(_server_frame(m) for m in messages)
    stream = b"".join(_server_frame(p, 0x9) for p in pings) + stream
    codec = WebSocketCodec()
    points = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    got = b"".join(codec.feed(stream[a:b]) for a, b in itertools.pairwise(points))
    assert got == b"".join(messages)
    assert len(codec.replies) == len(pings)  # each Ping answered with a Pong
    assert not codec.closed


def test_frames_sent_are_masked_and_a_close_ends_the_stream() -> None:
    frame = WebSocketCodec.encode(b"\x10\x00")
    assert frame[0] == 0x82 and frame[1] == 0x80 | 2
    mask = frame[2:6]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(frame[6:])) == b"\x10\x00"
    codec = WebSocketCodec()
    assert codec.feed(_server_frame(b"ab") + _server_frame(b"\x03\xe8", 0x8)) == b"ab"
    assert codec.closed and codec.replies[0][0] == 0x88
    with pytest.raises(MqttConnectionError, match="masked"):
        WebSocketCodec().feed(b"\x82\x81abcd\x00")
