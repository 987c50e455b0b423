"""A listener that closes first takes the connections still queued in the kernel: closed
with them in its queue, the socket would reset them, and a client that connected (and
sent its request) while the server was stopping would get a reset for an answer."""

from __future__ import annotations

import socket

import pytest

from workerman.core import Worker

from .conftest import port_of, serving, wait_for

pytestmark = pytest.mark.anyio

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


async def test_connections_queued_when_the_listener_closes_are_answered(
    anyio_backend: str,
) -> None:
    worker = Worker("http://127.0.0.1:0")
    worker.on_message = lambda connection, request: connection.send("hello")
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        clients = []
        for _ in range(3):
            # no await until unlisten(): the loop cannot accept them, the kernel queues them
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            client.sendall(GET)
            clients.append(client)
        worker.unlisten()
        got = [b""] * len(clients)

        def answered() -> bool:
            for i, client in enumerate(clients):
                client.setblocking(False)
                try:
                    got[i] += client.recv(4096)
                except BlockingIOError:
                    pass
            return all(reply.endswith(b"hello") for reply in got)

        try:
            await wait_for(answered)
        finally:
            for client in clients:
                client.close()
    assert all(reply.startswith(b"HTTP/1.1 200 OK\r\n") for reply in got), got
    with pytest.raises(ConnectionRefusedError):  # and the port is closed
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
