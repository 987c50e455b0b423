"""Bad input on an open WebSocket: each breach of RFC 6455 (or of a limit) closes the
connection with the close code the RFC names, counts a protocol error, and leaves every
other client alone. Every case is the exact bytes a broken client would send."""

from __future__ import annotations

import zlib
from typing import Any

import anyio
import pytest

from workerman.core import TcpConnection, Worker, statistics

from ..conftest import port_of, serving
from ._raw_ws import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    close_payload,
    deflate,
    frame,
    raw_client,
)

pytestmark = pytest.mark.anyio

COMPRESS = {"Sec-WebSocket-Extensions": "permessage-deflate"}


def echo_worker() -> Worker:
    worker = Worker("websocket://127.0.0.1:0", name="ws")
    worker.on_message = lambda connection, message: connection.send(message)
    return worker


def bomb(size: int) -> bytes:
    """A small compressed payload that inflates to ``size`` zero bytes."""
    return deflate(b"\x00" * size)


CASES: list[tuple[str, bytes, int, dict[str, str]]] = [
    ("unmasked text frame", frame(TEXT, b"hi", mask=False), 1002, {}),
    ("unmasked ping", frame(PING, b"", mask=False), 1002, {}),
    ("RSV1 without an extension", frame(TEXT, b"hi", rsv=0x40), 1002, {}),
    ("RSV2", frame(TEXT, b"hi", rsv=0x20), 1002, {}),
    ("RSV3", frame(BINARY, b"hi", rsv=0x10), 1002, {}),
    ("RSV2 with deflate", frame(TEXT, deflate(b"hi"), rsv=0x60), 1002, COMPRESS),
    ("RSV1 on a control frame", frame(PING, b"", rsv=0x40), 1002, COMPRESS),
    (
        "RSV1 on a continuation",
        frame(TEXT, b"a", fin=False) + frame(CONT, b"b", rsv=0x40),
        1002,
        COMPRESS,
    ),
    ("opcode 3", frame(3, b"x"), 1002, {}),
    ("opcode 7", frame(7), 1002, {}),
    ("opcode 11", frame(11), 1002, {}),
    ("opcode 15", frame(15, b"x"), 1002, {}),
    ("ping over 125 bytes", frame(PING, b"p" * 126), 1002, {}),
    ("pong over 125 bytes", frame(PONG, b"p" * 200), 1002, {}),
    ("close over 125 bytes", frame(CLOSE, close_payload(1000, "r" * 124)), 1002, {}),
    ("fragmented ping", frame(PING, b"a", fin=False), 1002, {}),
    ("fragmented close", frame(CLOSE, close_payload(1000), fin=False), 1002, {}),
    ("continuation without a message", frame(CONT, b"x"), 1002, {}),
    (
        "new message inside a fragmented one",
        frame(TEXT, b"a", fin=False) + frame(BINARY, b"b"),
        1002,
        {},
    ),
    (
        "64-bit length with the top bit set",
        bytes((0x82, 0xFF)) + (1 << 63).to_bytes(8, "big") + b"\x00" * 4,
        1002,
        {},
    ),
    ("text that is not UTF-8", frame(TEXT, b"\xff\xfe"), 1007, {}),
    ("a lone surrogate in UTF-8", frame(TEXT, b"\xed\xa0\x80"), 1007, {}),
    (
        "UTF-8 cut off at the end of a fragmented message",
        frame(TEXT, b"ok\xe2\x98", fin=False) + frame(CONT, b""),
        1007,
        {},
    ),
    ("bad UTF-8 in the first fragment", frame(TEXT, b"\xc0\xaf", fin=False), 1007, {}),
    ("compressed text that is not UTF-8", frame(TEXT, deflate(b"\xff"), rsv=0x40), 1007, COMPRESS),
    ("corrupt compressed data", frame(BINARY, b"\xff\xff\xff\xff", rsv=0x40), 1007, COMPRESS),
    ("close with a 1-byte payload", frame(CLOSE, b"\x03"), 1002, {}),
    ("close code 1005", frame(CLOSE, close_payload(1005)), 1002, {}),
    ("close code 1006", frame(CLOSE, close_payload(1006)), 1002, {}),
    ("close code 1015", frame(CLOSE, close_payload(1015)), 1002, {}),
    ("close code 1004", frame(CLOSE, close_payload(1004)), 1002, {}),
    ("close code 999", frame(CLOSE, close_payload(999)), 1002, {}),
    ("close code 2999", frame(CLOSE, close_payload(2999)), 1002, {}),
    ("close code 5000", frame(CLOSE, close_payload(5000)), 1002, {}),
    ("close reason that is not UTF-8", frame(CLOSE, b"\x03\xe8\xff"), 1007, {}),
]


@pytest.mark.parametrize(
    ("data", "code", "headers"),
    [pytest.param(data, code, headers, id=name) for name, data, code, headers in CASES],
)
async def test_bad_frames_close_with_the_rfc_code(
    anyio_backend: str, data: bytes, code: int, headers: dict[str, str]
) -> None:
    closes: list[Any] = []
    worker = echo_worker()
    worker.on_websocket_close = lambda connection, *args: closes.append(args)
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        async with raw_client(port) as (bystander, _):
            async with raw_client(port, "/", headers) as (client, _):
                # what came before the bad frame in the same read is still handled
                await client.send(frame(TEXT, b"before") + data + frame(TEXT, b"after"))
                frames = await client.frames_until_eof()
            await bystander.send(frame(TEXT, b"unaffected"))
            reply = await bystander.frame()
            assert reply.payload == b"unaffected"
            assert len(worker.connections) == 1
    assert [f.opcode for f in frames] == [TEXT, CLOSE]
    echoed = frames[0].payload
    if frames[0].rsv:  # compressed, as the server does when the extension is on
        echoed = zlib.decompressobj(-15).decompress(echoed + b"\x00\x00\xff\xff")
    assert echoed == b"before"
    got, reason = frames[1].close
    assert got == code
    assert reason  # it says what went wrong
    assert statistics.protocol_errors == 1
    assert closes == []  # on_websocket_close is for the peer's Close frames


async def test_a_bad_frame_after_a_fragment_drops_the_partial_message(
    anyio_backend: str,
) -> None:
    received: list[Any] = []
    worker = echo_worker()
    worker.on_message = lambda connection, message: received.append(message)
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker)) as (client, _):
            await client.send(frame(TEXT, b"part", fin=False))
            await anyio.sleep(0.02)
            await client.send(frame(TEXT, b"x", mask=False))
            frames = await client.frames_until_eof()
    assert [f.close[0] for f in frames] == [1002]
    assert received == []


@pytest.mark.parametrize("how", ["default", "on_connect"])
async def test_a_message_over_max_package_size_closes_with_1009(
    anyio_backend: str, how: str
) -> None:
    worker = echo_worker()
    if how == "default":
        TcpConnection.default_max_package_size = 1000
    else:

        def on_connect(connection: TcpConnection) -> None:
            connection.max_package_size = 1000

        worker.on_connect = on_connect
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        async with raw_client(port) as (client, _):
            await client.send(frame(BINARY, b"b" * 1000))  # at the limit: fine
            assert len((await client.frame()).payload) == 1000
            await client.send(frame(BINARY, b"b" * 1001))
            frames = await client.frames_until_eof()
        async with raw_client(port) as (client, _):
            # fragments: each small, together too big
            await client.send(frame(TEXT, b"a" * 600, fin=False) + frame(CONT, b"a" * 600))
            fragmented = await client.frames_until_eof()
        async with raw_client(port) as (client, _):
            # only the head of a huge frame: refused before its payload comes
            await client.send(bytes((0x82, 0xFF)) + (1 << 40).to_bytes(8, "big"))
            announced = await client.frames_until_eof()
    assert [f.close[0] for f in frames] == [1009]
    assert [f.close[0] for f in fragmented] == [1009]
    assert [f.close[0] for f in announced] == [1009]
    assert statistics.protocol_errors == 3


async def test_a_compressed_message_that_inflates_past_the_limit_closes_with_1009(
    anyio_backend: str,
) -> None:
    TcpConnection.default_max_package_size = 10_000
    worker = echo_worker()
    packed = bomb(1_000_000)
    assert len(packed) < 2000
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker), "/", COMPRESS) as (client, head):
            assert head.header("sec-websocket-extensions").startswith("permessage-deflate")
            await client.send(frame(BINARY, bomb(10_000), rsv=0x40))
            reply = await client.frame()
            await client.send(frame(BINARY, packed, rsv=0x40))
            frames = await client.frames_until_eof()
    inflated = zlib.decompressobj(-15).decompress(reply.payload + b"\x00\x00\xff\xff")
    assert inflated == b"\x00" * 10_000
    assert [f.close[0] for f in frames] == [1009]


async def test_an_error_after_an_async_handler_waits_for_it(anyio_backend: str) -> None:
    order: list[str] = []

    async def on_message(connection: TcpConnection, message: Any) -> None:
        order.append(f"start {message}")
        await anyio.sleep(0.05)
        connection.send(message)
        order.append(f"end {message}")

    worker = echo_worker()
    worker.on_message = on_message
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker)) as (client, _):
            await client.send(frame(TEXT, b"one") + frame(TEXT, b"two") + frame(3, b""))
            frames = await client.frames_until_eof()
    assert [(f.opcode, f.payload[:2] if f.opcode == CLOSE else f.payload) for f in frames] == [
        (TEXT, b"one"),
        (TEXT, b"two"),
        (CLOSE, (1002).to_bytes(2, "big")),
    ]
    assert order == ["start one", "end one", "start two", "end two"]
