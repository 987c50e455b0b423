"""What an app call runs in: a task current from its first step (anyio and sniffio work in
it), context variables of its own that it may reset after waiting, and none left over from
an earlier request, on both drivers."""

from __future__ import annotations

import contextvars
from typing import Any

import anyio
import httpx
import pytest
import sniffio

pytestmark = pytest.mark.anyio

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    seen = request_id.get()  # what an earlier request left behind, if anything leaked
    library = sniffio.current_async_library()
    token = request_id.set(scope["path"])
    if scope["query_string"] == b"wait":
        with anyio.CancelScope():  # entered in the first step, left after waiting
            await anyio.sleep(0.01)
        request_id.reset(token)  # the token is valid: the same context went on
    else:
        request_id.set(scope["path"] + "!")  # left changed on purpose
    body = f"{seen} {library} {request_id.get()}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_each_request_starts_clean_and_keeps_its_context(
    app_server: Any, anyio_backend: str
) -> None:
    async with app_server(app, lifespan="off") as url, httpx.AsyncClient(base_url=url) as client:
        first = (await client.get("/a")).text
        second = (await client.get("/b")).text
        waited = (await client.get("/c?wait")).text
        third = (await client.get("/d")).text
    assert first == f"unset {anyio_backend} /a!"
    assert second == f"unset {anyio_backend} /b!"
    assert waited == f"unset {anyio_backend} unset"
    assert third == f"unset {anyio_backend} /d!"
