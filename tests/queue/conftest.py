"""Fixtures for the queue tests: the real Redis (REDIS_URL) in database 14 only, with a
key prefix unique to each test, and both drivers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import anyio
import pytest

from workerman.core import create_loop
from workerman.queue import Queue
from workerman.redis import Redis

QUEUE_DB = 14


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def queue_url(redis_url: str) -> str:
    """REDIS_URL with the queue tests' database."""
    return urlunsplit(urlsplit(redis_url)._replace(path=f"/{QUEUE_DB}"))


@pytest.fixture
def prefix() -> str:
    return f"wmq-test:{os.getpid()}:{os.urandom(4).hex()}"


async def delete_prefix(url: str, prefix: str) -> None:
    client = Redis.from_url(url)
    try:
        cursor = b"0"
        while True:
            cursor, keys = await client.execute(
                "SCAN", cursor, "MATCH", prefix + ":*", "COUNT", 500
            )
            if keys:
                await client.execute("DEL", *keys)
            if cursor in (b"0", 0, "0"):
                break
    finally:
        await client.aclose()


@pytest.fixture
async def loop(anyio_backend: str) -> AsyncIterator[None]:
    workerman_loop = create_loop("asyncio" if anyio_backend == "asyncio" else "trio")
    async with workerman_loop.open():
        yield


@pytest.fixture
async def queue(queue_url: str, prefix: str, loop: None) -> AsyncIterator[Queue]:
    q = Queue.from_url(queue_url, prefix=prefix)
    try:
        yield q
    finally:
        await q.aclose()
        await delete_prefix(queue_url, prefix)


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = ""
) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    with anyio.move_on_after(timeout):
        while True:
            result = predicate()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await anyio.sleep(0.02)
    pytest.fail(f"timed out waiting for {what or predicate}")
