"""A send larger than the send buffer goes to the kernel in pieces as the peer reads:
the transport never holds a copy of more than ``max_send_buffer_size``, what follows it
leaves after it, and a close waits for all of it."""

from __future__ import annotations

import os
import socket

import anyio
import pytest

from workerman.core import TcpConnection, Worker, statistics

from .conftest import port_of, serving, wait_for

pytestmark = pytest.mark.anyio

BIG = bytes(range(256)) * (32 * 1024)  # 8 MiB, more than the kernel's buffers hold


def resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def read_exactly(stream: anyio.abc.SocketStream, size: int) -> bytes:
    got = bytearray()
    with anyio.fail_after(20):
        while len(got) < size:
            got += await stream.receive(1 << 20)
    return bytes(got)


async def test_a_large_send_and_what_follows_arrive_whole_and_in_order(
    anyio_backend: str,
) -> None:
    worker = Worker("tcp://127.0.0.1:0")
    drains: list[int] = []

    def on_message(connection: TcpConnection, data: bytes) -> None:
        connection.send(b"before")
        connection.send(BIG)
        assert connection.send_buffer_size > connection.max_send_buffer_size

    def on_buffer_drain(connection: TcpConnection) -> None:
        drains.append(connection.send_buffer_size)
        connection.send(b"after")  # once all the pieces are out

    worker.on_message = on_message
    worker.on_buffer_drain = on_buffer_drain
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await stream.send(b"go")
        got = await read_exactly(stream, 6 + len(BIG) + 5)
        await stream.aclose()
    assert got == b"before" + BIG + b"after"
    assert len(drains) == 1 and drains[0] < 1024 * 1024
    assert statistics.send_fail == 0


async def test_a_close_after_a_large_send_waits_for_all_of_it(anyio_backend: str) -> None:
    worker = Worker("tcp://127.0.0.1:0")
    worker.on_message = lambda connection, data: connection.close(BIG)
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await stream.send(b"go")
        got = await read_exactly(stream, len(BIG))
        with anyio.fail_after(5), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
            await stream.receive()
        await stream.aclose()
    assert got == BIG


async def test_sends_behind_a_large_one_are_refused_while_it_fills_the_buffer(
    anyio_backend: str,
) -> None:
    results: list[bool | None] = []
    worker = Worker("tcp://127.0.0.1:0")

    def on_message(connection: TcpConnection, data: bytes) -> None:
        results.append(connection.send(BIG))
        results.append(connection.send(BIG))  # 8 MiB wait: over the 1 MiB limit

    worker.on_message = on_message
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await stream.send(b"go")
        got = await read_exactly(stream, len(BIG))
        await stream.aclose()
    assert got == BIG
    assert results == [None, False]
    assert statistics.send_fail == 1


async def test_clients_that_do_not_read_a_large_answer_hold_a_bounded_buffer_each(
    anyio_backend: str,
) -> None:
    """20 clients ask for the same 8 MiB and never read: each transport holds at most
    the 1 MiB send buffer (it held the whole unsent rest, about 6-8 MiB a client)."""
    worker = Worker("tcp://127.0.0.1:0")
    worker.on_message = lambda connection, data: connection.send(BIG)
    socks = []
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        before = resident()
        try:
            for _ in range(20):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.connect(("127.0.0.1", port))
                sock.sendall(b"go")
                socks.append(sock)
            await wait_for(lambda: sum(c.writing_paused for c in worker.connections.values()) == 20)
            for connection in worker.connections.values():
                assert connection.bytes_written + connection.send_buffer_size == len(BIG)
            grown = resident() - before
        finally:
            for sock in socks:
                sock.close()
    assert grown < 20 * 2 * 1024 * 1024, f"{grown / 2**20:.0f} MiB for 20 clients"
