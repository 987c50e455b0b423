"""Fixtures for the Redis client tests: a real Redis (REDIS_URL), a database the tests
own (REDIS_TEST_DB, default 15) flushed before each test, both drivers, RESP2 and RESP3."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from workerman.core import create_loop
from workerman.redis import Redis

TEST_DB = int(os.environ.get("REDIS_TEST_DB", "15"))


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def resp(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def test_url(redis_url: str) -> str:
    """REDIS_URL with the tests' own database."""
    parts = urlsplit(redis_url)
    return urlunsplit(parts._replace(path=f"/{TEST_DB}"))


@pytest.fixture
async def redis(test_url: str, resp: int, anyio_backend: str) -> AsyncIterator[Redis]:
    """A client on the test database (flushed), on the workerman loop of this test."""
    loop = create_loop("asyncio" if anyio_backend == "asyncio" else "trio")
    async with loop.open():
        client = Redis.from_url(test_url, protocol=resp)
        await client.execute("FLUSHDB")
        try:
            yield client
        finally:
            await client.aclose()


@pytest.fixture
async def redis_str(test_url: str, resp: int, anyio_backend: str) -> AsyncIterator[Redis]:
    """Like ``redis``, with decode_responses=True."""
    loop = create_loop("asyncio" if anyio_backend == "asyncio" else "trio")
    async with loop.open():
        client = Redis.from_url(test_url, protocol=resp, decode_responses=True)
        await client.execute("FLUSHDB")
        try:
            yield client
        finally:
            await client.aclose()
