"""AsyncTcpConnection: dialing out, queuing before the connection is up, failing to
connect, reconnecting, and the ways to close."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from workerman.core import (
    CONNECT_FAIL,
    AsyncTcpConnection,
    ConnectionStatus,
    ServerError,
    TcpConnection,
    Worker,
    live_connections,
)

from .conftest import port_of, running_loop, serving

pytestmark = pytest.mark.anyio


async def until(predicate: Callable[[], Any], timeout: float = 5) -> None:
    """Wait (polling the loop) until ``predicate()`` is true; fail after ``timeout``."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


def frame_echo(port: int = 0) -> Worker:
    """A frame:// worker that answers each frame with ``echo:`` and the payload."""
    worker = Worker(f"frame://127.0.0.1:{port}", name="echo")
    worker.on_message = lambda connection, data: connection.send(b"echo:" + data)
    return worker


def free_port() -> int:
    """A port nothing listens on (reserved by binding, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def started(worker: Worker) -> AsyncIterator[Worker]:
    """Run ``worker`` on the already running loop for the block."""
    await worker._start()
    try:
        yield worker
    finally:
        await worker._stop()


class Recorder:
    """Wires every callback of a connection to one ordered list of events."""

    def __init__(self, connection: AsyncTcpConnection) -> None:
        self.events: list[Any] = []
        connection.on_connect = lambda c: self.events.append("connect")
        connection.on_message = lambda c, message: self.events.append(message)
        connection.on_error = lambda c, code, message: self.events.append(("error", code))
        connection.on_close = lambda c: self.events.append("close")

    def count(self, event: Any) -> int:
        return self.events.count(event)


# -- connecting and queuing ---------------------------------------------------------------


async def test_connects_then_receives_replies(anyio_backend: str) -> None:
    worker = frame_echo()
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{port_of(worker)}")
        recorder = Recorder(client)

        def on_connect(connection: AsyncTcpConnection) -> None:
            recorder.events.append("connect")
            connection.send(b"hi")

        client.on_connect = on_connect
        client.connect()
        await until(lambda: len(recorder.events) == 2)
        assert client.status == ConnectionStatus.ESTABLISHED
        assert client.remote_uri == f"frame://127.0.0.1:{port_of(worker)}"
        assert client.remote_port == port_of(worker)
        assert client.worker is None
        assert client.id in live_connections()
        assert client.bytes_written == len(b"....hi")  # a frame: 4-byte length, payload
        assert client.bytes_read == len(b"....echo:hi")
        client.close()
        await until(lambda: "close" in recorder.events)
        assert client.id not in live_connections()
    assert recorder.events == ["connect", b"echo:hi", "close"]


async def test_sends_before_the_connection_is_up_are_queued_and_delivered_in_order(
    anyio_backend: str,
) -> None:
    worker = frame_echo()
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{port_of(worker)}")
        recorder = Recorder(client)
        assert client.status == ConnectionStatus.INITIAL
        assert client.send(b"one") is None  # before connect(): queued
        client.connect()
        assert client.status == ConnectionStatus.CONNECTING
        assert client.send(b"two") is None  # while connecting: queued
        assert client.send("three") is None
        assert client.send_buffer_size > 0
        await until(lambda: len(recorder.events) == 4)
        assert recorder.events == ["connect", b"echo:one", b"echo:two", b"echo:three"]
        assert client.send(b"four") is True  # established: straight to the kernel
        await until(lambda: len(recorder.events) == 5)
        assert recorder.events[-1] == b"echo:four"
        client.close()


async def test_raw_tcp_scheme_delivers_bytes_as_they_come(anyio_backend: str) -> None:
    worker = Worker("tcp://127.0.0.1:0")
    worker.on_message = lambda connection, data: connection.send(data.upper())
    received = bytearray()
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"tcp://127.0.0.1:{port_of(worker)}")
        client.on_message = lambda c, data: received.extend(data)
        client.send(b"raw ")
        client.send(b"bytes")
        client.connect()
        await until(lambda: len(received) == len(b"raw bytes"))
        client.close()
    assert bytes(received) == b"RAW BYTES"


async def test_connect_twice_is_a_no_op_while_connected(anyio_backend: str) -> None:
    worker = frame_echo()
    accepted: list[TcpConnection] = []
    worker.on_connect = accepted.append
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{port_of(worker)}")
        recorder = Recorder(client)
        client.connect()
        client.connect()
        await until(lambda: "connect" in recorder.events)
        client.connect()
        client.send(b"x")
        await until(lambda: b"echo:x" in recorder.events)
        assert recorder.count("connect") == 1
        assert len(accepted) == 1
        client.close()


# -- failing to connect, and reconnecting ---------------------------------------------------


async def test_connect_to_a_closed_port_reports_connect_fail_then_closes(
    anyio_backend: str,
) -> None:
    messages: list[str] = []
    async with running_loop(anyio_backend):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{free_port()}")
        recorder = Recorder(client)
        client.on_error = lambda c, code, message: (
            recorder.events.append(("error", code)),
            messages.append(message),
        )
        client.send(b"never delivered")
        client.connect()
        await until(lambda: "close" in recorder.events)
    assert recorder.events == [("error", CONNECT_FAIL), "close"]
    assert client.status == ConnectionStatus.CLOSED
    assert "127.0.0.1" in messages[0]
    assert client.send(b"after") is False


async def test_reconnect_in_on_close_retries_until_told_to_stop(anyio_backend: str) -> None:
    async with running_loop(anyio_backend):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{free_port()}")
        recorder = Recorder(client)

        def on_close(connection: AsyncTcpConnection) -> None:
            recorder.events.append("close")
            if recorder.count("close") < 3:
                connection.reconnect(0.05)

        client.on_close = on_close
        client.connect()
        await until(lambda: recorder.count("close") == 3)
        await anyio.sleep(0.2)  # no fourth attempt was scheduled
    assert recorder.events == [("error", CONNECT_FAIL), "close"] * 3


async def test_reconnect_in_on_error_retries_and_on_close_still_runs(anyio_backend: str) -> None:
    async with running_loop(anyio_backend):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{free_port()}")
        recorder = Recorder(client)

        def on_error(connection: AsyncTcpConnection, code: int, message: str) -> None:
            recorder.events.append(("error", code))
            if recorder.count(("error", CONNECT_FAIL)) < 2:
                connection.reconnect(0.05)

        client.on_error = on_error
        client.connect()
        await until(lambda: recorder.count("close") == 2)
        await anyio.sleep(0.2)  # no third attempt
    assert recorder.events == [("error", CONNECT_FAIL), "close"] * 2


async def test_reconnect_succeeds_once_a_server_listens_on_the_port(anyio_backend: str) -> None:
    port = free_port()
    async with running_loop(anyio_backend):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{port}")
        recorder = Recorder(client)
        retrying = True

        def on_close(connection: AsyncTcpConnection) -> None:
            recorder.events.append("close")
            if retrying:
                connection.reconnect(0.05)

        client.on_close = on_close
        client.connect()
        await until(lambda: recorder.count("close") >= 2)
        assert "connect" not in recorder.events
        async with started(frame_echo(port)):
            await until(lambda: "connect" in recorder.events)
            client.send(b"at last")
            await until(lambda: b"echo:at last" in recorder.events)
            retrying = False
            client.close()
            await until(lambda: recorder.events[-1] == "close")
    # Every failed attempt is an error followed by a close, then one good connection.
    failed = recorder.events[: recorder.events.index("connect")]
    assert failed == [("error", CONNECT_FAIL), "close"] * (len(failed) // 2)
    assert recorder.events[len(failed) :] == ["connect", b"echo:at last", "close"]


async def test_reconnect_after_the_server_restarts(anyio_backend: str) -> None:
    async with running_loop(anyio_backend):
        first = frame_echo()
        await first._start()
        port = port_of(first)
        client = AsyncTcpConnection(f"frame://127.0.0.1:{port}")
        recorder = Recorder(client)
        retrying = True

        def on_close(connection: AsyncTcpConnection) -> None:
            recorder.events.append("close")
            if retrying:
                connection.reconnect(0.1)

        client.on_close = on_close
        client.connect()
        await until(lambda: "connect" in recorder.events)
        client.send(b"before")
        await until(lambda: b"echo:before" in recorder.events)

        await first._stop()  # the server goes away and closes our connection
        await until(lambda: "close" in recorder.events)
        assert client.status in (  # waiting to reconnect, or already connecting
            ConnectionStatus.INITIAL,
            ConnectionStatus.CONNECTING,
        )

        async with started(frame_echo(port)):
            await until(lambda: recorder.count("connect") == 2)
            client.send(b"after")
            await until(lambda: b"echo:after" in recorder.events)
            retrying = False
            client.close()
            await until(lambda: recorder.events[-1] == "close")
    assert recorder.events[:3] == ["connect", b"echo:before", "close"]
    assert recorder.events[-3:] == ["connect", b"echo:after", "close"]
    between = recorder.events[3:-3]  # attempts made while no server listened
    assert between == [("error", CONNECT_FAIL), "close"] * (len(between) // 2)


async def test_reconnect_closes_a_live_connection_first(anyio_backend: str) -> None:
    worker = frame_echo()
    accepted: list[TcpConnection] = []
    worker.on_connect = accepted.append
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{port_of(worker)}")
        recorder = Recorder(client)
        client.connect()
        await until(lambda: "connect" in recorder.events)
        client.reconnect()
        await until(lambda: recorder.count("connect") == 2)
        client.send(b"again")
        await until(lambda: b"echo:again" in recorder.events)
        assert recorder.events == ["connect", "close", "connect", b"echo:again"]
        assert len(accepted) == 2
        client.close()


async def test_cancel_reconnect_stops_a_scheduled_reconnect(anyio_backend: str) -> None:
    async with running_loop(anyio_backend) as loop:
        client = AsyncTcpConnection(f"frame://127.0.0.1:{free_port()}")
        recorder = Recorder(client)
        client.on_close = lambda c: (recorder.events.append("close"), c.reconnect(0.3))
        client.connect()
        await until(lambda: "close" in recorder.events)
        assert loop.timer_count() == 1  # the reconnect, waiting
        client.cancel_reconnect()
        assert loop.timer_count() == 0
        await anyio.sleep(0.5)  # longer than the reconnect would have waited
    assert recorder.events == [("error", CONNECT_FAIL), "close"]
    assert client.status == ConnectionStatus.CLOSED


async def test_destroy_while_connecting_closes_without_connecting(anyio_backend: str) -> None:
    worker = frame_echo()
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{port_of(worker)}")
        recorder = Recorder(client)
        client.send(b"queued")
        client.connect()
        assert client.status == ConnectionStatus.CONNECTING
        client.destroy()
        assert client.status == ConnectionStatus.CLOSED
        assert recorder.events == ["close"]
        await anyio.sleep(0.2)  # whatever the connect task was doing is over
        assert client.id not in live_connections()
        assert worker.connections == {}
    assert recorder.events == ["close"]


async def test_close_while_connecting_is_a_destroy(anyio_backend: str) -> None:
    worker = frame_echo()
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{port_of(worker)}")
        recorder = Recorder(client)
        client.connect()
        client.close(b"bye")
        assert client.status == ConnectionStatus.CLOSED
        await anyio.sleep(0.2)
    assert recorder.events == ["close"]


async def test_connect_again_after_destroy_while_connecting_sends_only_new_data(
    anyio_backend: str,
) -> None:
    worker = frame_echo()
    received: list[bytes] = []
    worker.on_message = lambda connection, data: (received.append(data), connection.send(data))
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{port_of(worker)}")
        recorder = Recorder(client)
        client.send(b"dropped")
        client.connect()
        client.destroy()  # drops what was queued
        client.connect()
        client.send(b"fresh")
        await until(lambda: b"fresh" in recorder.events)
        client.close()
    assert received == [b"fresh"]


# -- closing ---------------------------------------------------------------------------


async def test_close_with_data_sends_it_then_closes(anyio_backend: str) -> None:
    worker = Worker("frame://127.0.0.1:0")
    server_events: list[Any] = []
    worker.on_message = lambda connection, data: server_events.append(data)
    worker.on_close = lambda connection: server_events.append("close")
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{port_of(worker)}")
        recorder = Recorder(client)
        client.on_connect = lambda c: c.close(b"last words")
        client.send(b"first")
        client.connect()
        await until(lambda: "close" in server_events and "close" in recorder.events)
        assert client.status == ConnectionStatus.CLOSED
    assert server_events == [b"first", b"last words", "close"]
    assert recorder.events == ["close"]


async def test_server_close_with_data_reaches_the_client_before_on_close(
    anyio_backend: str,
) -> None:
    worker = Worker("frame://127.0.0.1:0")
    worker.on_message = lambda connection, data: connection.close(b"goodbye " + data)
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{port_of(worker)}")
        recorder = Recorder(client)
        client.connect()
        client.send(b"client")
        await until(lambda: "close" in recorder.events)
    assert recorder.events == ["connect", b"goodbye client", "close"]


async def test_destroy_drops_queued_data(anyio_backend: str) -> None:
    worker = Worker("frame://127.0.0.1:0")
    server_events: list[Any] = []
    worker.on_message = lambda connection, data: (server_events.append(data), connection.send(data))
    worker.on_close = lambda connection: server_events.append("close")
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{port_of(worker)}")
        recorder = Recorder(client)

        def on_message(connection: AsyncTcpConnection, data: bytes) -> None:
            recorder.events.append(data)
            # Sends made while a read is handled wait to leave together at its end;
            # destroy() drops them instead.
            connection.send(b"never sent")
            connection.destroy()

        client.on_message = on_message
        client.connect()
        client.send(b"hello")
        await until(lambda: "close" in server_events and "close" in recorder.events)
    assert server_events == [b"hello", "close"]
    assert recorder.events == ["connect", b"hello", "close"]


async def test_send_after_close_returns_false(anyio_backend: str) -> None:
    worker = frame_echo()
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{port_of(worker)}")
        recorder = Recorder(client)
        client.connect()
        await until(lambda: "connect" in recorder.events)
        client.close()
        assert client.status in (ConnectionStatus.CLOSING, ConnectionStatus.CLOSED)
        assert client.send(b"too late") is False
        await until(lambda: "close" in recorder.events)
        assert client.status == ConnectionStatus.CLOSED
        assert client.send(b"still too late") is False
        client.close()  # closing twice is harmless
        client.destroy()
    assert recorder.events == ["connect", "close"]


async def test_on_close_runs_once_per_connection(anyio_backend: str) -> None:
    worker = frame_echo()
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"frame://127.0.0.1:{port_of(worker)}")
        recorder = Recorder(client)
        client.connect()
        await until(lambda: "connect" in recorder.events)
        client.close()
        client.destroy()
        await until(lambda: "close" in recorder.events)
        await anyio.sleep(0.1)
    assert recorder.events == ["connect", "close"]


def test_connect_without_a_running_loop_raises_and_leaves_the_connection_untouched() -> None:
    client = AsyncTcpConnection("frame://127.0.0.1:1")
    with pytest.raises(ServerError, match="no event loop is running"):
        client.connect()
    assert client.status == ConnectionStatus.INITIAL
