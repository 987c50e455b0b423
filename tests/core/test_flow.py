"""Backpressure: buffer full and drain, pause and resume, pipe, a peer that vanishes."""

from __future__ import annotations

import socket
import struct

import anyio
import pytest

from workerman.core import SEND_FAIL, AsyncTcpConnection, TcpConnection, Worker, statistics

from .conftest import port_of, read_lines, serving

pytestmark = pytest.mark.anyio

CHUNK = b"x" * 65536


async def test_send_to_a_peer_that_never_reads_fills_the_buffer_then_drains(
    anyio_backend: str,
) -> None:
    events: list[str] = []
    results: list[bool | None] = []
    drained = anyio.Event()
    worker = Worker("tcp://127.0.0.1:0")

    def on_connect(connection: TcpConnection) -> None:
        connection.max_send_buffer_size = 256 * 1024
        for _ in range(2000):  # at most 125 MiB; the kernel takes a few MiB at most
            result = connection.send(CHUNK)
            results.append(result)
            if result is False:
                break

    def on_error(connection: TcpConnection, code: int, message: str) -> None:
        events.append(f"error {code} {message}")

    def on_buffer_drain(connection: TcpConnection) -> None:
        events.append("drain")
        drained.set()

    worker.on_connect = on_connect
    worker.on_error = on_error
    worker.on_buffer_full = lambda connection: events.append("full")
    worker.on_buffer_drain = on_buffer_drain
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            with anyio.fail_after(5):
                while not results or results[-1] is not False:
                    await anyio.sleep(0.01)
            assert True in results  # the first sends went straight to the kernel
            assert None in results  # then they queued
            assert events[:2] == ["full", f"error {SEND_FAIL} send buffer full and drop package"]
            assert statistics.send_fail == 1
            expected = sum(len(CHUNK) for r in results if r is not False)
            received = 0
            with anyio.fail_after(10):
                while received < expected:
                    received += len(await client.receive())
                await drained.wait()
            assert received == expected
            assert events[-1] == "drain"


async def test_pause_recv_holds_messages_until_resume_recv(anyio_backend: str) -> None:
    got: list[str] = []
    worker = Worker("text://127.0.0.1:0")
    worker.on_connect = lambda connection: connection.pause_recv()
    worker.on_message = lambda connection, line: got.append(line)
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            await client.send(b"one\ntwo\n")
            await anyio.sleep(0.2)
            assert got == []
            (connection,) = worker.connections.values()
            connection.resume_recv()
            with anyio.fail_after(5):
                while len(got) < 2:
                    await anyio.sleep(0.01)
            assert got == ["one", "two"]


async def test_pipe_forwards_both_ways_with_backpressure(anyio_backend: str) -> None:
    backend = Worker("tcp://127.0.0.1:0", name="backend")
    # an echo that honours backpressure itself, or it would drop what it cannot send
    backend.on_message = lambda connection, data: connection.send(data)
    backend.on_buffer_full = lambda connection: connection.pause_recv()
    backend.on_buffer_drain = lambda connection: connection.resume_recv()
    proxy = Worker("tcp://127.0.0.1:0", name="proxy")

    def on_connect(connection: TcpConnection) -> None:
        upstream = AsyncTcpConnection(f"tcp://127.0.0.1:{port_of(backend)}")
        upstream.max_send_buffer_size = 64 * 1024  # small, so the pipe has to pause
        connection.max_send_buffer_size = 64 * 1024
        connection.pipe(upstream)
        upstream.pipe(connection)
        upstream.connect()

    proxy.on_connect = on_connect
    payload = bytes(range(256)) * 16 * 1024  # 4 MiB
    async with serving(anyio_backend, backend, proxy):
        async with await anyio.connect_tcp("127.0.0.1", port_of(proxy)) as client:
            received = bytearray()

            async def reader() -> None:
                with anyio.fail_after(20):
                    while len(received) < len(payload):
                        received.extend(await client.receive())

            async with anyio.create_task_group() as tg:
                tg.start_soon(reader)
                await client.send(payload)
            assert bytes(received) == payload
        # closing the client closes the upstream side too
        with anyio.fail_after(5):
            while backend.connections or proxy.connections:
                await anyio.sleep(0.01)


async def test_a_peer_that_vanishes_mid_write_is_a_send_failure_for_that_connection_only(
    anyio_backend: str,
) -> None:
    errors: list[int] = []
    closed = anyio.Event()
    worker = Worker("text://127.0.0.1:0")

    def on_message(connection: TcpConnection, line: str) -> None:
        if line == "flood":
            connection.max_send_buffer_size = 16 * 1024 * 1024  # queue it all, refuse none
            for _ in range(64):
                connection.send("y" * 65536)
        else:
            connection.send(line)

    worker.on_message = on_message
    worker.on_error = lambda connection, code, message: errors.append(code)
    worker.on_close = lambda connection: closed.set() if errors else None
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as bystander:
            rude = await anyio.connect_tcp("127.0.0.1", port_of(worker))
            await rude.send(b"flood\n")
            await rude.receive(1024)
            # RST instead of FIN: the server's next write fails
            raw = rude.extra(anyio.abc.SocketAttribute.raw_socket)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            await rude.aclose()
            with anyio.fail_after(5):
                await closed.wait()
            assert errors == [SEND_FAIL]
            assert statistics.send_fail == 1
            await bystander.send(b"still here\n")
            assert await read_lines(bystander, 1) == [b"still here\n"]
