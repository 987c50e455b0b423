"""Every HTTP connection has a deadline when nothing goes on: Http.idle_timeout closes a
keep-alive client that went quiet and a client that never sends a byte, and never one
whose request is in progress."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import anyio
import pytest

from workerman.core import Worker, statistics
from workerman.core.http import Http, Request

from ..conftest import port_of, read_to_close, serving, wait_for
from ._raw import read_replies, request, split_replies

pytestmark = pytest.mark.anyio

IDLE = 0.4


class QuickIdle(Http):
    idle_timeout: ClassVar[float] = IDLE


def http_worker(handler: Any) -> Worker:
    worker = Worker("http://127.0.0.1:0", protocol=QuickIdle)
    worker.on_message = handler
    return worker


async def test_a_client_that_never_sends_a_byte_is_closed(anyio_backend: str) -> None:
    worker = http_worker(lambda connection, req: connection.send("hi"))
    async with serving(anyio_backend, worker):
        before = statistics.timeouts
        started = time.monotonic()
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        assert await read_to_close(stream, 5) == b""  # no request: nothing to answer
        assert time.monotonic() - started >= IDLE * 0.9
        assert statistics.timeouts == before + 1
        await stream.aclose()


async def test_a_keep_alive_client_that_goes_quiet_is_closed_after_its_answer(
    anyio_backend: str,
) -> None:
    worker = http_worker(lambda connection, req: connection.send("hi"))
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await stream.send(request("GET", "/"))
        data = await read_to_close(stream, 5)
        replies, rest = split_replies(data)
        assert [r.body for r in replies] == [b"hi"] and rest == b""
        await stream.aclose()


async def test_a_request_in_progress_is_never_idle(anyio_backend: str) -> None:
    async def slow(connection: Any, req: Request) -> None:
        await anyio.sleep(IDLE * 3)  # longer than the idle timeout: the request runs
        connection.send("late")

    worker = http_worker(slow)
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await stream.send(request("GET", "/"))
        data = await read_to_close(stream, 10)  # the answer, then the idle close
        replies, _ = split_replies(data)
        assert [r.body for r in replies] == [b"late"]
        await stream.aclose()


async def test_a_client_that_keeps_asking_stays_open(anyio_backend: str) -> None:
    worker = http_worker(lambda connection, req: connection.send("ok"))
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        deadline = time.monotonic() + IDLE * 4
        answered = 0
        while time.monotonic() < deadline:  # one request every tenth of the timeout
            await stream.send(request("GET", "/"))
            with anyio.fail_after(5):
                data = b""
                while not split_replies(data)[0]:
                    data += await stream.receive()
            answered += 1
            await anyio.sleep(IDLE / 10)
        assert answered >= 10
        await stream.aclose()


async def test_zero_turns_the_deadline_off(anyio_backend: str) -> None:
    class NoIdle(Http):
        idle_timeout: ClassVar[float] = 0

    worker = Worker("http://127.0.0.1:0", protocol=NoIdle)
    worker.on_message = lambda connection, req: connection.send("hi")
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        with pytest.raises(TimeoutError), anyio.fail_after(IDLE * 3):
            await stream.receive()  # still open: nothing arrives and nothing closes it
        await stream.aclose()


async def test_a_partial_head_counts_in_the_connections_receive_buffer(anyio_backend: str) -> None:
    worker = Worker("http://127.0.0.1:0")  # (no idle deadline in the way: the default 60 s)
    worker.on_message = lambda connection, req: connection.send("hi")
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        partial = b"GET / HTTP/1.1\r\nHost: x\r\n"  # no blank line yet
        await stream.send(partial)
        await wait_for(lambda: any(c.recv_buffer_size for c in worker.connections.values()))
        (connection,) = worker.connections.values()
        assert connection.recv_buffer_size == len(partial)  # what `connections` shows as recv_q
        await stream.send(b"\r\n")
        assert [reply.body for reply in await read_replies(stream)] == [b"hi"]
        assert connection.recv_buffer_size == 0
        await stream.aclose()
