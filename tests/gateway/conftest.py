"""Fixtures for the gateway tests: the real Redis, database 13 only, and a namespace (key
and channel prefix) of each test's own, since pub/sub crosses databases and other suites
share this Redis. Every async test runs on asyncio and trio."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis as redis_py

from workerman.core import create_loop

TEST_DB = 13


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def gw_url(redis_url: str) -> str:
    """REDIS_URL with the gateway tests' database."""
    return urlunsplit(urlsplit(redis_url)._replace(path=f"/{TEST_DB}"))


@pytest.fixture
def prefix(gw_url: str) -> Iterator[str]:
    """A namespace for this test alone; its keys are deleted afterwards."""
    name = f"gwtest:{uuid.uuid4().hex[:12]}:"
    yield name
    with redis_py.Redis.from_url(gw_url) as client:
        keys = list(client.scan_iter(match=f"{name}*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def inspect_redis(gw_url: str) -> Iterator[redis_py.Redis]:
    """A plain redis-py client on the test database, to look at what the gateway wrote."""
    with redis_py.Redis.from_url(gw_url, decode_responses=True) as client:
        yield client


@pytest.fixture
async def loop(anyio_backend: str) -> AsyncIterator[None]:
    """The workerman loop bound to this test's asyncio or trio loop."""
    bound = create_loop("asyncio" if anyio_backend == "asyncio" else "trio")
    async with bound.open():
        yield
