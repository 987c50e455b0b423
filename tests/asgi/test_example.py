"""examples/asgi/main.py, the FastAPI app the README points at, served by AsgiWorker."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.sync.client import connect

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).parents[2] / "examples" / "asgi" / "main.py"


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("asgi_example_main", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.app


async def test_the_example_app(app_server: Any) -> None:
    app = load_example()
    async with app_server(app) as url, httpx.AsyncClient(base_url=url) as client:
        index = (await client.get("/")).json()
        assert index["hello"] == "world"
        assert (await client.get("/plain")).text == "Hello, World!"
        assert (await client.get("/items/3", params={"q": "x"})).json() == {
            "item_id": 3,
            "q": "x",
        }
        events = await client.get("/count", params={"to": 2})
        assert events.text == "data: 1\n\ndata: 2\n\n"

        def echo() -> str:
            with connect("ws" + url.removeprefix("http") + "/echo") as ws:
                ws.send("ping")
                return str(ws.recv(timeout=5))

        assert await anyio.to_thread.run_sync(echo) == "ping"
