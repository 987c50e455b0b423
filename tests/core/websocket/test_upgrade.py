"""upgrade(): an http:// handler turns its connection into a WebSocket, so one port
serves the page and the socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import connect

from workerman.core import TcpConnection, Worker, statistics
from workerman.core.http import FileSessionHandler, Request, Session
from workerman.core.websocket import WebSocket, upgrade

from ..conftest import port_of, serving
from ..http._raw import exchange, request
from ._raw_ws import (
    ACCEPT,
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    close_payload,
    frame,
    in_asyncio_thread,
    raw_client,
    raw_connection,
    upgrade_request,
)

pytestmark = pytest.mark.anyio

PAGE = "<html><script>new WebSocket('/ws')</script></html>"


def web_worker(**options: Any) -> tuple[Worker, list[Any]]:
    """An http:// worker: the page at /, a WebSocket echo at /ws; it records what the
    socket received and what upgrade() returned."""
    log: list[Any] = []
    worker = Worker("http://127.0.0.1:0", name="web")

    def on_socket_message(connection: TcpConnection, message: Any) -> None:
        log.append(message)
        connection.send(message)

    def on_message(connection: TcpConnection, req: Request) -> None:
        if req.path == "/ws":
            log.append(upgrade(connection, req, on_message=on_socket_message, **options))
        else:
            connection.send(PAGE)

    worker.on_message = on_message
    return worker, log


async def test_one_port_serves_the_page_and_the_socket(anyio_backend: str) -> None:
    worker, log = web_worker()
    port = 0

    async def client() -> list[Any]:
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.send("over http")
            text = await ws.recv()
            await ws.send(b"\x00bin")
            return [text, await ws.recv()]

    async with serving(anyio_backend, worker):
        port = port_of(worker)
        (page,), _ = await exchange(port, request("GET", "/"))
        assert await in_asyncio_thread(client) == ["over http", b"\x00bin"]
        (again,), _ = await exchange(port, request("GET", "/"))
    assert page.status == again.status == 200
    assert page.body == PAGE.encode()
    assert log == [True, "over http", b"\x00bin"]


async def test_the_page_then_the_upgrade_on_one_keep_alive_connection(anyio_backend: str) -> None:
    worker, log = web_worker()
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await client.send(request("GET", "/"))
            page = await client.head()
            assert page.status == 200
            length = int(page.header("content-length") or 0)
            with anyio.fail_after(5):
                while len(client.buffer) < length:
                    assert await client._fill()
            assert client.buffer[:length] == PAGE.encode()
            client.buffer = client.buffer[length:]
            await client.send(upgrade_request("/ws"))
            head = await client.head()
            assert head.status == 101
            assert head.header("sec-websocket-accept") == ACCEPT
            await client.send(frame(TEXT, b"after the page"))
            assert (await client.frame()).payload == b"after the page"
    assert log == [True, "after the page"]


async def test_bytes_pipelined_after_the_upgrade_request_are_frames(anyio_backend: str) -> None:
    worker, log = web_worker()
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await client.send(
                upgrade_request("/ws")
                + frame(TEXT, b"one")
                + frame(PING, b"p")
                + frame(BINARY, b"two")
                + frame(TEXT, b"thr", fin=False)  # the rest comes in the next read
            )
            assert (await client.head()).status == 101
            first, pong, second = await client.frame(), await client.frame(), await client.frame()
            await client.send(frame(0, b"ee"))
            third = await client.frame()
    assert [(f.opcode, f.payload) for f in (first, pong, second, third)] == [
        (TEXT, b"one"),
        (PONG, b"p"),
        (BINARY, b"two"),
        (TEXT, b"three"),
    ]
    assert log == [True, "one", b"two", "three"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 400),
        ({"Upgrade": "websocket", "Connection": "Upgrade"}, 426),  # no version
        ({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}, 400),
        (
            {
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "12",
            },
            426,
        ),
    ],
)
async def test_a_request_that_is_not_an_upgrade_is_refused(
    anyio_backend: str, headers: dict[str, str], status: int
) -> None:
    worker, log = web_worker()
    async with serving(anyio_backend, worker):
        (reply,), _ = await exchange(port_of(worker), request("GET", "/ws", headers))
    assert log == [False]
    assert reply.status == status
    if status == 426:
        assert reply.header("sec-websocket-version") == "13"


async def test_the_connection_stays_http_after_a_refused_upgrade(anyio_backend: str) -> None:
    worker, log = web_worker()
    async with serving(anyio_backend, worker):
        replies, _ = await exchange(
            port_of(worker), request("GET", "/ws") + request("GET", "/"), count=2
        )
    assert [r.status for r in replies] == [400, 200]
    assert log == [False]


async def test_upgrade_options_subprotocol_headers_and_compression(anyio_backend: str) -> None:
    worker, _log = web_worker(
        subprotocols=["b", "a"], headers={"X-Upgraded": "yes"}, compression=False
    )
    async with serving(anyio_backend, worker):
        async with raw_client(
            port_of(worker),
            "/ws",
            {"Sec-WebSocket-Protocol": "a, b", "Sec-WebSocket-Extensions": "permessage-deflate"},
        ) as (client, head):
            await client.send(frame(TEXT, b"x" * 200))
            reply = await client.frame()
    assert head.header("sec-websocket-protocol") == "b"
    assert head.header("x-upgraded") == "yes"
    assert head.header("sec-websocket-extensions") is None
    assert (reply.rsv, reply.payload) == (0, b"x" * 200)


async def test_upgrade_negotiates_compression_by_default(anyio_backend: str) -> None:
    worker, _log = web_worker()
    port = 0

    async def client() -> tuple[str, str | None]:
        async with connect(f"ws://127.0.0.1:{port}/ws", compression="deflate") as ws:
            await ws.send("squeeze " * 100)
            assert ws.response is not None
            return str(await ws.recv()), ws.response.headers.get("Sec-WebSocket-Extensions")

    async with serving(anyio_backend, worker):
        port = port_of(worker)
        text, agreed = await in_asyncio_thread(client)
    assert text == "squeeze " * 100
    assert agreed is not None
    assert agreed.startswith("permessage-deflate")


async def test_the_workers_websocket_callbacks_apply_after_an_upgrade(anyio_backend: str) -> None:
    events: list[Any] = []
    worker, _log = web_worker()
    worker.on_websocket_ping = lambda connection, payload: events.append(("ping", payload))
    worker.on_websocket_pong = lambda connection, payload: events.append(("pong", payload))
    worker.on_websocket_close = lambda connection, *args: events.append(("close", *args))
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker), "/ws") as (client, _):
            await client.send(
                frame(PING, b"1") + frame(PONG, b"2") + frame(CLOSE, close_payload(4000, "bye"))
            )
            frames = await client.frames_until_eof()
    assert [(f.opcode, f.payload) for f in frames] == [(PONG, b"1"), (CLOSE, close_payload(4000))]
    assert events == [("ping", b"1"), ("pong", b"2"), ("close", 4000, "bye")]


async def test_upgrade_from_an_async_handler(anyio_backend: str) -> None:
    received: list[Any] = []
    worker = Worker("http://127.0.0.1:0", name="web")

    async def on_message(connection: TcpConnection, req: Request) -> None:
        await anyio.sleep(0.02)  # e.g. checking a session
        upgrade(connection, req)
        connection.on_message = on_socket_message
        connection.send("welcome")

    def on_socket_message(connection: TcpConnection, message: Any) -> None:
        received.append(message)
        connection.send(message)

    worker.on_message = on_message
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await client.send(upgrade_request("/") + frame(TEXT, b"early"))
            assert (await client.head()).status == 101
            welcome, echo = await client.frame(), await client.frame()
    assert (welcome.payload, echo.payload) == (b"welcome", b"early")
    assert received == ["early"]


async def test_close_on_an_upgraded_connection_sends_1000(anyio_backend: str) -> None:
    worker = Worker("http://127.0.0.1:0", name="web")

    def on_message(connection: TcpConnection, req: Request) -> None:
        upgrade(connection, req)
        connection.send("bye")
        connection.close()

    worker.on_message = on_message
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await client.send(upgrade_request("/"))
            assert (await client.head()).status == 101
            frames = await client.frames_until_eof()
    assert [(f.opcode, f.payload) for f in frames] == [(TEXT, b"bye"), (CLOSE, close_payload(1000))]


async def test_bad_frames_after_an_upgrade_close_with_1002(anyio_backend: str) -> None:
    worker, _log = web_worker()
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker), "/ws") as (client, _):
            await client.send(frame(TEXT, b"unmasked", mask=False))
            frames = await client.frames_until_eof()
    assert [f.close[0] for f in frames] == [1002]
    assert statistics.protocol_errors == 1


async def test_the_heartbeat_applies_to_upgraded_connections(anyio_backend: str) -> None:
    worker, _log = web_worker(protocol=WebSocket.configure(heartbeat=0.1))
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker), "/ws") as (client, _):
            ping = await client.frame(timeout=2)
            frames = await client.frames_until_eof(timeout=2)
    assert ping.opcode == PING
    assert [f.close[0] for f in frames] == [1011]


async def test_upgrade_takes_only_the_request_being_handled(anyio_backend: str) -> None:
    errors: list[Exception] = []
    kept: list[Request] = []
    worker = Worker("http://127.0.0.1:0", name="web")

    def on_message(connection: TcpConnection, req: Request) -> None:
        if kept:
            try:
                upgrade(connection, kept[0])
            except RuntimeError as exc:
                errors.append(exc)
        kept.append(req)
        connection.send("ok")

    worker.on_message = on_message
    async with serving(anyio_backend, worker):
        replies, _ = await exchange(
            port_of(worker), upgrade_request("/") + upgrade_request("/"), count=2
        )
    assert [r.status for r in replies] == [200, 200]
    assert len(errors) == 1


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(Session, "_handler", FileSessionHandler(str(tmp_path)))
    monkeypatch.setattr(Session, "gc_probability", (0, 1))


async def test_a_session_used_by_the_upgrading_handler_is_kept(
    anyio_backend: str, sessions: None
) -> None:
    seen: list[Any] = []
    worker = Worker("http://127.0.0.1:0", name="web")

    def on_message(connection: TcpConnection, req: Request) -> None:
        if req.path == "/ws":
            req.session["room"] = req.get("room")
            upgrade(connection, req)
        else:
            seen.append(req.session.get("room"))
            connection.send("ok")

    worker.on_message = on_message
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker), "/ws?room=7") as (_client, head):
            pass
        cookie = (head.header("set-cookie") or "").partition(";")[0]
        assert cookie.startswith(f"{Session.name}=")
        (reply,), _ = await exchange(port_of(worker), request("GET", "/", {"Cookie": cookie}))
    assert reply.status == 200
    assert seen == ["7"]


async def test_a_session_in_on_websocket_connect_is_kept(
    anyio_backend: str, sessions: None
) -> None:
    seen: list[Any] = []
    worker = Worker("websocket://127.0.0.1:0", name="ws")

    def on_connect(connection: TcpConnection, req: Request) -> None:
        seen.append(req.session.get("visits", 0))
        req.session["visits"] = seen[-1] + 1

    worker.on_websocket_connect = on_connect
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker)) as (_client, head):
            pass
        cookie = (head.header("set-cookie") or "").partition(";")[0]
        async with raw_client(port_of(worker), "/", {"Cookie": cookie}) as (_client, again):
            pass
    assert cookie.startswith(f"{Session.name}=")
    assert again.header("set-cookie") is None  # the same session: no new cookie
    assert seen == [0, 1]
