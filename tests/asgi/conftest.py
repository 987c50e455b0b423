"""Fixtures for the ASGI tests: every async test runs on asyncio and trio, and ``app_server``
serves an app with an AsgiWorker inside the test's loop."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from workerman.asgi import AsgiWorker
from workerman.core import serve


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app_server() -> Callable[..., contextlib.AbstractAsyncContextManager[str]]:
    """``async with app_server(app, **settings) as base_url:`` an AsgiWorker on a free port."""

    @contextlib.asynccontextmanager
    async def run(app: Any, **settings: Any) -> AsyncIterator[str]:
        worker = AsgiWorker(app, "http://127.0.0.1:0", **settings)
        async with serve(worker) as (host, port):
            yield f"http://{host}:{port}"

    return run
