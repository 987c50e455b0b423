"""Shared fixtures: every async test runs on both drivers (asyncio and trio)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import pytest

from workerman.core import (
    EventLoop,
    TcpConnection,
    Worker,
    create_loop,
    live_connections,
    serve,
    statistics,
)

from ._supervisor_harness import server  # noqa: F401 (the fixture of the supervisor tests)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _clean_process_state() -> Iterator[None]:
    Worker.workers.clear()
    statistics.reset()
    saved = (TcpConnection.default_max_send_buffer_size, TcpConnection.default_max_package_size)
    yield
    Worker.workers.clear()
    live_connections().clear()
    TcpConnection.default_max_send_buffer_size, TcpConnection.default_max_package_size = saved


@contextlib.asynccontextmanager
async def running_loop(backend: str) -> AsyncIterator[EventLoop]:
    """The workerman loop bound to the test's own event loop."""
    loop = create_loop("asyncio" if backend == "asyncio" else "trio")
    async with loop.open():
        yield loop


@contextlib.asynccontextmanager
async def serving(backend: str, *workers: Worker) -> AsyncIterator[EventLoop]:
    """Start ``workers`` on the test's loop; stop them and close their connections after."""
    async with running_loop(backend) as loop, serve(*workers):
        yield loop


def port_of(worker: Worker) -> int:
    return int(worker.listening[1])


async def read_lines(stream: anyio.abc.ByteStream, count: int, timeout: float = 5) -> list[bytes]:
    """Read until ``count`` newline-terminated lines arrived (or EOF)."""
    buffer = b""
    with anyio.fail_after(timeout):
        while buffer.count(b"\n") < count:
            try:
                chunk = await stream.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                break
            buffer += chunk
    return buffer.splitlines(keepends=True)


async def wait_for(condition: Callable[[], Any], seconds: float = 10) -> None:
    """Wait until ``condition()`` is true (failing after ``seconds``)."""
    with anyio.fail_after(seconds):
        while not condition():
            await anyio.sleep(0.01)


async def read_to_close(stream: anyio.abc.ByteStream, seconds: float) -> bytes:
    """What arrives before the peer closes, which it must do within ``seconds``."""
    got = b""
    with anyio.fail_after(seconds):
        while True:
            try:
                got += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return got


@pytest.fixture
def caplog_warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="workerman.core")
    return caplog
