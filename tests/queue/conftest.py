"""Fixtures for the queue tests: the real Redis (REDIS_URL) in database 14 only, with a
key prefix unique to each test, and both drivers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import anyio
import pytest

from workerman.core import create_loop
from workerman.queue import Queue, QueueSizes
from workerman.redis import Redis

QUEUE_DB = 14


# (driver, broker): the suite runs on Redis with both drivers and on RabbitMQ with asyncio
# (aio-pika is asyncio-only; test_amqp.py checks that trio is refused).
COMBINATIONS = [("asyncio", "redis"), ("trio", "redis"), ("asyncio", "amqp")]


@pytest.fixture(params=COMBINATIONS, ids=[f"{b}-{d}" for d, b in COMBINATIONS])
def combination(request: pytest.FixtureRequest) -> tuple[str, str]:
    driver, broker = request.param
    return str(driver), str(broker)


@pytest.fixture
def anyio_backend(combination: tuple[str, str]) -> str:
    return combination[0]


@pytest.fixture
def broker(combination: tuple[str, str]) -> str:
    return combination[1]


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
def broker_url(broker: str, request: pytest.FixtureRequest) -> str:
    """Redis database 14 (REDIS_URL) or RabbitMQ (AMQP_URL)."""
    return str(request.getfixturevalue("amqp_url" if broker == "amqp" else "queue_url"))


@pytest.fixture
async def queue(broker: str, broker_url: str, prefix: str, loop: None) -> AsyncIterator[Queue]:
    """A Queue on the test's broker, under ``prefix``."""
    url = broker_url
    if broker == "amqp":
        q = Queue.from_url(url, prefix=prefix)
        try:
            yield q
        finally:
            await q.backend.delete_everything()  # type: ignore[attr-defined]
            await q.aclose()
        return
    q = Queue.from_url(url, prefix=prefix)
    try:
        yield q
    finally:
        await q.aclose()
        await delete_prefix(url, prefix)


def counts(sizes: QueueSizes) -> tuple[int, int, int]:
    """(waiting, delayed, failed), checking that nothing is in flight (where the broker
    tells: AMQP does not)."""
    assert sizes.in_flight in (0, None), sizes
    return sizes.waiting, sizes.delayed, sizes.failed


REDIS_ONLY = pytest.fixture(
    params=[("asyncio", "redis"), ("trio", "redis")], ids=["redis-asyncio", "redis-trio"]
)


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
