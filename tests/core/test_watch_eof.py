"""StreamProtocol.watch_eof: a held connection goes on reading until bytes come, so a
peer that leaves while a message is being handled is seen (eof_received), on both drivers
(without it, asyncio reads nothing while held); bytes that come while held are kept and
handed over on release, as before."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import pytest

from workerman.core import TcpConnection, Worker, serve
from workerman.core.protocols import StreamProtocol

pytestmark = pytest.mark.anyio

seen: list[Any] = []


class Held(StreamProtocol):
    """Each line is handed over held; the hold goes when the handler says so."""

    __slots__ = ()
    watch_eof = True

    def data_received(self, data: bytes) -> None:
        self.connection.hold()
        seen.append(("line", data))

    def eof_received(self) -> None:
        seen.append(("eof",))


class Blind(Held):
    __slots__ = ()
    watch_eof = False


async def _wait(predicate: Any) -> None:
    with anyio.fail_after(5):
        while not predicate():
            await anyio.sleep(0.01)


@pytest.mark.parametrize("protocol", [Held, Blind])
async def test_a_peer_leaving_while_held_is_seen_when_watched(
    protocol: type[StreamProtocol], anyio_backend: str
) -> None:
    seen.clear()
    worker = Worker("tcp://127.0.0.1:0", protocol=protocol)
    async with serve(worker) as (host, port):
        with socket.create_connection((host, port)) as client:
            client.sendall(b"first\n")
            await _wait(lambda: seen)
            client.shutdown(socket.SHUT_WR)
            if protocol is Held:
                await _wait(lambda: ("eof",) in seen)
            # without watch_eof, asyncio reads nothing while held (trio's reader may see it)
            connection: TcpConnection = next(iter(worker.connections.values()))
            connection.release()  # the handler is done: the end of input takes effect
            await _wait(lambda: not worker.connections)
            assert client.recv(10) == b""


async def test_bytes_arriving_while_held_are_kept_and_handed_over_on_release(
    anyio_backend: str,
) -> None:
    seen.clear()
    worker = Worker("tcp://127.0.0.1:0", protocol=Held)
    async with serve(worker) as (host, port):
        with socket.create_connection((host, port)) as client:
            client.sendall(b"first\n")
            await _wait(lambda: seen)
            client.sendall(b"second\n")
            connection: TcpConnection = next(iter(worker.connections.values()))
            await _wait(lambda: connection.recv_buffer_size)  # kept, not handed over
            assert seen == [("line", b"first\n")]
            connection.release()
            await _wait(lambda: len(seen) == 2)
            assert seen[1] == ("line", b"second\n")


class Lines(StreamProtocol):
    """Lines; a read without a newline is kept until 20 more bytes are there. Each line
    is handed over held."""

    __slots__ = ()
    watch_eof = True

    def data_received(self, data: bytes) -> None:
        if not data.endswith(b"\n"):
            self.connection.keep(data, want=len(data) + 20)
            return
        self.connection.hold()
        seen.append(("line", data))


async def test_bytes_kept_while_held_after_a_met_want_are_handed_over_on_release(
    anyio_backend: str,
) -> None:
    seen.clear()
    worker = Worker("tcp://127.0.0.1:0", protocol=Lines)
    async with serve(worker) as (host, port):
        with socket.create_connection((host, port)) as client:
            client.sendall(b"a" * 10)  # kept: 20 more bytes wanted
            await _wait(lambda: worker.connections)
            connection: TcpConnection = next(iter(worker.connections.values()))
            await _wait(lambda: connection.recv_buffer_size == 10)
            client.sendall(b"b" * 19 + b"\n")  # the want is met: one line, held
            await _wait(lambda: seen)
            client.sendall(b"x\n")  # shorter than the old want, kept while held
            await _wait(lambda: connection.recv_buffer_size)
            connection.release()
            await _wait(lambda: len(seen) == 2)
            assert seen == [("line", b"a" * 10 + b"b" * 19 + b"\n"), ("line", b"x\n")]
