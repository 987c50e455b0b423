"""Echo over real sockets for every stream scheme, on both drivers."""

from __future__ import annotations

import anyio
import pytest

from workerman.core import Worker

from .conftest import port_of, read_lines, serving

pytestmark = pytest.mark.anyio


async def test_text_echo_answers_each_line_in_order(anyio_backend: str) -> None:
    worker = Worker("text://127.0.0.1:0", name="echo")
    worker.on_message = lambda connection, line: connection.send(line.upper())
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            await client.send(b"hello\nwor")
            await client.send(b"ld\r\n")
            assert await read_lines(client, 2) == [b"HELLO\n", b"WORLD\n"]


async def test_reuse_port_lets_two_workers_listen_on_one_port(anyio_backend: str) -> None:
    first = Worker("text://127.0.0.1:0", name="a", reuse_port=True)
    first.bind()
    second = Worker(f"text://127.0.0.1:{port_of(first)}", name="b", reuse_port=True)
    first.on_message = lambda connection, line: connection.send("a")
    second.on_message = lambda connection, line: connection.send("b")
    async with serving(anyio_backend, first, second):
        seen: set[bytes] = set()
        with anyio.fail_after(10):
            while len(seen) < 2:  # the kernel spreads connections over both sockets
                async with await anyio.connect_tcp("127.0.0.1", port_of(first)) as client:
                    await client.send(b"x\n")
                    seen.update(await read_lines(client, 1))
    assert seen == {b"a\n", b"b\n"}


async def test_frame_echo_over_tcp(anyio_backend: str) -> None:
    worker = Worker("frame://127.0.0.1:0")
    worker.on_message = lambda connection, payload: connection.send(payload[::-1])
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            await client.send((7).to_bytes(4, "big") + b"abc" + (6).to_bytes(4, "big"))
            await client.send(b"xy")
            received = b""
            with anyio.fail_after(5):
                while len(received) < 13:
                    received += await client.receive()
    assert received == (7).to_bytes(4, "big") + b"cba" + (6).to_bytes(4, "big") + b"yx"
