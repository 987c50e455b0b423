"""The loop facade binds itself to whatever asyncio or trio loop is running: no
``create_loop(...).open()`` is needed outside workers, and it lets go when that loop ends."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import anyio
import pytest
import trio
import uvloop

from workerman.core import (
    AsyncTcpConnection,
    ServerError,
    Timer,
    Worker,
    current_loop,
    serve,
)
from workerman.core._loop import current_loop_or_none


@pytest.fixture
def line_echo_server() -> Iterator[int]:
    """A blocking line-echo server in a thread: nothing of ours on the server side."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_forever() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as lines:
                for line in lines:
                    conn.sendall(b"echo:" + line)

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    yield port
    listener.close()


async def _timer_fires() -> str:
    loop = current_loop()
    done = loop.create_future()
    Timer.add(0.01, done.set_result, loop.name, persistent=False)
    return str(await done)


async def _echo_once(port: int) -> bytes:
    connection = AsyncTcpConnection(f"text://127.0.0.1:{port}")
    received = current_loop().create_future()
    connection.on_message = lambda conn, line: received.set_result(line)
    connection.connect()
    connection.send("hello")
    try:
        return bytes(str(await received), "ascii")
    finally:
        connection.close()


def test_two_asyncio_runs_in_a_row_each_get_a_loop() -> None:
    assert asyncio.run(_timer_fires()) == "asyncio"
    assert current_loop_or_none() is None  # the first run's loop was let go
    assert asyncio.run(_timer_fires()) == "asyncio"


def test_uvloop_run_binds_the_uvloop_driver() -> None:
    assert uvloop.run(_timer_fires()) == "uvloop"


def test_two_trio_runs_in_a_row_each_get_a_loop() -> None:
    assert trio.run(_timer_fires) == "trio"
    assert current_loop_or_none() is None
    assert trio.run(_timer_fires) == "trio"


def test_asyncio_then_trio_in_one_process() -> None:
    assert asyncio.run(_timer_fires()) == "asyncio"
    assert trio.run(_timer_fires) == "trio"
    assert asyncio.run(_timer_fires()) == "asyncio"


def test_async_tcp_connection_from_asyncio_run(line_echo_server: int) -> None:
    assert asyncio.run(_echo_once(line_echo_server)) == b"echo:hello"


def test_async_tcp_connection_from_trio_run(line_echo_server: int) -> None:
    assert trio.run(_echo_once, line_echo_server) == b"echo:hello"


def test_sync_code_with_no_loop_is_told_what_to_do() -> None:
    with pytest.raises(ServerError, match=r"no event loop is running.*asyncio\.run"):
        current_loop()


@pytest.mark.anyio
async def test_anyio_code_needs_no_setup(anyio_backend: str) -> None:
    assert await _timer_fires() == anyio_backend


@pytest.mark.anyio
async def test_serve_after_first_use_shares_the_bound_loop(anyio_backend: str) -> None:
    adopted = current_loop()
    worker = Worker("text://127.0.0.1:0")
    worker.on_message = lambda connection, line: connection.send(line[::-1])
    async with serve(worker) as (host, port):
        assert current_loop() is adopted
        stream = await anyio.connect_tcp(host, port)
        await stream.send(b"abc\n")
        assert await stream.receive() == b"cba\n"
        await stream.aclose()
    assert current_loop() is adopted


@pytest.mark.anyio
async def test_a_loop_opened_for_a_block_gives_way_and_returns(anyio_backend: str) -> None:
    from workerman.core import create_loop

    adopted = current_loop()
    opened = create_loop(anyio_backend)
    async with opened.open():
        assert current_loop() is opened
        assert await _timer_fires() == anyio_backend
    assert current_loop() is adopted
