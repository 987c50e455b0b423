"""The lifespan protocol in one process, on both drivers: startup before the first
request, shutdown after the last; an app without lifespan support is served anyway."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from workerman.asgi import AsgiWorker
from workerman.core import serve

from . import _apps

pytestmark = pytest.mark.anyio


async def test_startup_then_requests_then_shutdown(app_server: Any) -> None:
    _apps.events.clear()
    async with app_server(_apps.api) as url, httpx.AsyncClient() as client:
        assert _apps.events == ["startup"]
        assert (await client.get(url + "/state")).status_code == 200
    assert _apps.events == ["startup", "shutdown"]


async def test_shutdown_waits_for_a_running_request() -> None:
    order: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    order.append("shutdown")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        order.append("request done")

    worker = AsgiWorker(app, "http://127.0.0.1:0", lifespan="on")
    async with serve(worker) as (host, port), httpx.AsyncClient() as client:
        assert (await client.get(f"http://{host}:{port}/")).text == "ok"
    assert order == ["request done", "shutdown"]


async def test_an_app_without_lifespan_support_is_served(app_server: Any) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError(f"only http, not {scope['type']}")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"served"})

    async with app_server(app) as url, httpx.AsyncClient() as client:
        assert (await client.get(url + "/")).text == "served"


async def test_a_failed_startup_stops_the_process() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    worker = AsgiWorker(app, "http://127.0.0.1:0")
    codes: list[Any] = []
    try:
        async with serve(worker):
            pytest.fail("the worker served after a failed startup")
    except* SystemExit as stopped:  # on trio, inside the nursery's group
        codes = [exc.code for exc in stopped.exceptions if isinstance(exc, SystemExit)]
    assert codes == [3]
