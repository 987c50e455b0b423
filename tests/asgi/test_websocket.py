"""ASGI websocket scopes on AsgiWorker, driven by the websockets library (its sync client,
in a thread, so the server runs on either driver): accept with a subprotocol and headers,
text and bytes both ways, close codes both ways, refusals."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from workerman.asgi import AsgiWorker
from workerman.core import serve

from ._apps import api, starlette_app

pytestmark = pytest.mark.anyio


def _ws(url: str) -> str:
    return "ws" + url.removeprefix("http")


async def test_accept_with_subprotocol_text_and_bytes(app_server: Any) -> None:
    def talk(url: str) -> tuple[Any, ...]:
        with connect(url + "/ws/lobby", subprotocols=["other", "chat.v1"]) as ws:
            ws.send("hi")
            text = ws.recv(timeout=5)
            ws.send(b"\x01\x02\x03")
            data = ws.recv(timeout=5)
            return ws.subprotocol, text, data

    async with app_server(api) as url:
        got = await anyio.to_thread.run_sync(talk, _ws(url))
    assert got == ("chat.v1", "lobby: hi", b"\x03\x02\x01")


async def test_accept_headers_and_iteration(app_server: Any) -> None:
    def talk(url: str) -> tuple[Any, ...]:
        with connect(url + "/ws") as ws:
            replies = []
            for text in ("one", "two", "ü" * 1000):
                ws.send(text)
                replies.append(ws.recv(timeout=5))
            return ws.response.headers.get("x-welcome"), replies

    async with app_server(starlette_app) as url:
        header, replies = await anyio.to_thread.run_sync(talk, _ws(url))
    assert header == "yes"
    assert replies == ["one", "two", "ü" * 1000]


async def test_the_app_closes_with_a_code_and_reason(app_server: Any) -> None:
    def talk(url: str) -> tuple[Any, ...]:
        with connect(url + "/ws/x") as ws:
            ws.send("bye")
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd is not None
            return closed.value.rcvd.code, closed.value.rcvd.reason

    async with app_server(api) as url:
        assert await anyio.to_thread.run_sync(talk, _ws(url)) == (4001, "bye to you")


async def test_the_clients_close_code_reaches_the_app(app_server: Any) -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        seen.append(await receive())

    def talk(url: str) -> None:
        with connect(url) as ws:
            ws.close(code=4002, reason="leaving")

    async with app_server(app) as url:
        await anyio.to_thread.run_sync(talk, _ws(url))
        with anyio.fail_after(5):
            while not seen:
                await anyio.sleep(0.01)
    assert seen == [{"type": "websocket.disconnect", "code": 4002, "reason": "leaving"}]


async def test_close_before_accept_is_a_403(app_server: Any) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1000})

    def talk(url: str) -> int:
        with pytest.raises(InvalidStatus) as refused:
            connect(url)
        return refused.value.response.status_code

    async with app_server(app) as url:
        assert await anyio.to_thread.run_sync(talk, _ws(url)) == 403


async def test_a_denial_response_of_the_apps_own(app_server: Any) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        assert "websocket.http.response" in scope["extensions"]
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"token"})

    def talk(url: str) -> tuple[Any, ...]:
        with pytest.raises(InvalidStatus) as refused:
            connect(url)
        response = refused.value.response
        return response.status_code, response.headers["www-authenticate"], response.body

    async with app_server(app) as url:
        got = await anyio.to_thread.run_sync(talk, _ws(url))
    assert got == (401, "Bearer", b"no token")


async def test_websocket_scope_fields(app_server: Any) -> None:
    scopes: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        scopes.append(scope)
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close"})

    def talk(url: str) -> None:
        with connect(url + "/room/a%20b?x=1", subprotocols=["p1", "p2"]) as ws:
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)

    async with app_server(app, root_path="/r") as url:
        await anyio.to_thread.run_sync(talk, _ws(url))
    scope = scopes[0]
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/r/room/a b"
    assert scope["raw_path"] == b"/room/a%20b"
    assert scope["query_string"] == b"x=1"
    assert scope["subprotocols"] == ["p1", "p2"]
    assert "method" not in scope
    assert (b"upgrade", b"websocket") in scope["headers"]


async def test_an_app_that_does_not_receive_stops_the_reading() -> None:
    got: list[int] = []
    go = anyio.Event()
    size, count = 65536, 200  # 12.5 MiB: more than the kernel's buffers hold

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        await go.wait()
        while len(got) < count:
            message = await receive()
            got.append(len(message["bytes"]))
        await send({"type": "websocket.send", "text": "all"})

    def talk(url: str) -> str:
        with connect(url, max_size=None, compression=None) as ws:
            for _ in range(count):
                ws.send(b"m" * size)
            return str(ws.recv(timeout=10))

    worker = AsgiWorker(app, "http://127.0.0.1:0", ws_max_queue=8, lifespan="off")
    async with serve(worker) as (host, port), anyio.create_task_group() as group:

        async def client() -> None:
            assert await anyio.to_thread.run_sync(talk, f"ws://{host}:{port}") == "all"

        group.start_soon(client)
        with anyio.fail_after(10):  # the queue fills up: the connection stops reading
            while not any(getattr(c, "paused", False) for c in worker._cycles.values()):
                await anyio.sleep(0.01)
        connection = next(iter(worker.connections.values()))
        assert connection.bytes_read < size * count
        go.set()
    assert got == [size] * count
