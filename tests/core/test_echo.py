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
