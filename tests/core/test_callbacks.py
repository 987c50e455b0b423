"""Callbacks: plain ones inline, async ones in order per connection, errors survived."""

from __future__ import annotations

import logging

import anyio
import pytest

from workerman.core import TcpConnection, Worker, statistics

from .conftest import port_of, read_lines, serving

pytestmark = pytest.mark.anyio


async def test_async_handler_replies_keep_the_order_of_the_messages(anyio_backend: str) -> None:
    worker = Worker("text://127.0.0.1:0")

    async def on_message(connection: TcpConnection, line: str) -> None:
        await anyio.sleep(0.001 * (10 - int(line) % 10))  # later lines finish sooner
        connection.send(line)

    worker.on_message = on_message
    lines = [str(i) for i in range(30)]
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            await client.send("".join(f"{line}\n" for line in lines).encode())
            replies = await read_lines(client, len(lines))
    assert [r.decode().strip() for r in replies] == lines


async def test_a_waiting_async_handler_does_not_hold_up_other_connections(
    anyio_backend: str,
) -> None:
    released = anyio.Event()
    worker = Worker("text://127.0.0.1:0")

    async def on_message(connection: TcpConnection, line: str) -> None:
        if line == "wait":
            await released.wait()
        else:
            released.set()
        connection.send(f"done {line}")

    worker.on_message = on_message
    async with serving(anyio_backend, worker):
        async with (
            await anyio.connect_tcp("127.0.0.1", port_of(worker)) as waiter,
            await anyio.connect_tcp("127.0.0.1", port_of(worker)) as releaser,
        ):
            await waiter.send(b"wait\nafter\n")
            await anyio.sleep(0.05)
            await releaser.send(b"go\n")
            assert await read_lines(releaser, 1) == [b"done go\n"]
            assert await read_lines(waiter, 2) == [b"done wait\n", b"done after\n"]


async def test_on_close_comes_after_the_last_async_on_message(anyio_backend: str) -> None:
    events: list[str] = []
    closed = anyio.Event()
    worker = Worker("text://127.0.0.1:0")

    async def on_message(connection: TcpConnection, line: str) -> None:
        await anyio.sleep(0.02)
        events.append(line)

    async def on_close(connection: TcpConnection) -> None:
        events.append("close")
        closed.set()

    worker.on_message = on_message
    worker.on_close = on_close
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            await client.send(b"a\nb\n")
        with anyio.fail_after(5):
            await closed.wait()
    assert events == ["a", "b", "close"]


async def test_an_exception_in_on_message_is_logged_and_the_connection_keeps_serving(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    worker = Worker("text://127.0.0.1:0", name="fragile")

    def on_message(connection: TcpConnection, line: str) -> None:
        if line == "boom":
            raise RuntimeError("handler bug")
        connection.send(line)

    worker.on_message = on_message
    with caplog.at_level(logging.ERROR, logger="workerman.core"):
        async with serving(anyio_backend, worker):
            async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
                await client.send(b"boom\nok\n")
                assert await read_lines(client, 1) == [b"ok\n"]
                (connection,) = worker.connections.values()
                connection_id = connection.id
    assert statistics.throw_exception == 1
    (record,) = [r for r in caplog.records if "handler bug" in r.getMessage()]
    assert f"on_message of worker 'fragile' connection {connection_id}" in record.getMessage()
    assert record.exc_info is not None


async def test_an_exception_in_an_async_handler_is_logged_and_later_messages_still_run(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    worker = Worker("text://127.0.0.1:0", name="fragile")

    async def on_message(connection: TcpConnection, line: str) -> None:
        await anyio.sleep(0)
        if line == "boom":
            raise ValueError("async handler bug")
        connection.send(line)

    worker.on_message = on_message
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            await client.send(b"boom\nok\n")
            assert await read_lines(client, 1) == [b"ok\n"]
    assert statistics.throw_exception == 1
    assert any("async handler bug" in r.getMessage() for r in caplog.records)


async def test_worker_start_and_stop_callbacks_may_be_async(anyio_backend: str) -> None:
    events: list[str] = []
    worker = Worker("text://127.0.0.1:0", name="life")

    async def on_worker_start(w: Worker) -> None:
        await anyio.sleep(0)
        events.append(f"start {w.name} {w.listening is not None}")

    async def on_worker_stop(w: Worker) -> None:
        await anyio.sleep(0)
        events.append(f"stop {w.name}")

    worker.on_worker_start = on_worker_start
    worker.on_worker_stop = on_worker_stop
    worker.on_connect = lambda connection: events.append("connect")
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)):
            with anyio.fail_after(5):
                while "connect" not in events:
                    await anyio.sleep(0.01)
    assert events == ["start life True", "connect", "stop life"]


async def test_a_worker_without_an_address_runs_only_its_timers(anyio_backend: str) -> None:
    from workerman.core import Timer

    ticks: list[int] = []
    worker = Worker(name="cron")
    worker.on_worker_start = lambda w: Timer.add(0.01, ticks.append, 1)
    async with serving(anyio_backend, worker):
        with anyio.fail_after(5):
            while len(ticks) < 3:
                await anyio.sleep(0.01)
    assert worker.listening is None
    assert worker.transport == "tcp"
