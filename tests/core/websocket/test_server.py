"""The websocket:// server over real sockets: the opening handshake, messages, control
frames, the closing handshake, the heartbeat and permessage-deflate, against raw bytes
and against the websockets library's client."""

from __future__ import annotations

import os
import ssl
from typing import Any

import anyio
import pytest
import trustme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from workerman.core import TcpConnection, Worker, statistics
from workerman.core.http import Request, RequestError
from workerman.core.websocket import WebSocket

from ..conftest import port_of, serving
from ._raw_ws import (
    ACCEPT,
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    close_payload,
    deflate,
    frame,
    in_asyncio_thread,
    raw_client,
    raw_connection,
    upgrade_request,
)

pytestmark = pytest.mark.anyio


def ws_worker(on_message: Any = None, protocol: Any = None) -> Worker:
    worker = Worker("websocket://127.0.0.1:0", name="ws", protocol=protocol)
    worker.on_message = on_message
    return worker


def echo(connection: TcpConnection, message: Any) -> None:
    connection.send(message)


# -- the opening handshake -----------------------------------------------------------------


async def test_a_valid_upgrade_gets_101_with_the_accept_key(anyio_backend: str) -> None:
    worker = ws_worker(echo)
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await client.send(upgrade_request("/chat"))
            head = await client.head()
            assert head.raw.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
            assert head.header("upgrade") == "websocket"
            assert head.header("connection") == "Upgrade"
            assert head.header("sec-websocket-accept") == ACCEPT
            assert head.header("sec-websocket-protocol") is None
            assert head.header("sec-websocket-extensions") is None
            await client.send(frame(TEXT, b"hi"))
            reply = await client.frame()
            assert (reply.fin, reply.rsv, reply.opcode, reply.payload) == (True, 0, TEXT, b"hi")
            assert reply.key is None  # a server never masks


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-WebSocket-Version": "12"}, 426),
        ({"Sec-WebSocket-Version": None}, 426),
        ({"Sec-WebSocket-Key": None}, 400),
        ({"Sec-WebSocket-Key": "c2hvcnQ="}, 400),
        ({"Upgrade": None}, 400),
        ({"Connection": "keep-alive"}, 400),
        ({"Upgrade": None, "Connection": None, "Sec-WebSocket-Key": None}, 400),
        (  # a plain GET
            {
                "Upgrade": None,
                "Connection": None,
                "Sec-WebSocket-Key": None,
                "Sec-WebSocket-Version": None,
            },
            400,
        ),
    ],
)
async def test_a_bad_upgrade_request_is_refused_with_an_http_status(
    anyio_backend: str, headers: dict[str, str | None], status: int
) -> None:
    connected: list[Any] = []
    worker = ws_worker(echo)
    worker.on_websocket_connect = lambda connection, request: connected.append(request)
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await client.send(upgrade_request("/", headers))  # type: ignore[arg-type]
            head = await client.head()
            assert await client.closed()
    assert head.status == status
    if status == 426:
        assert head.header("sec-websocket-version") == "13"
    assert connected == []
    assert statistics.protocol_errors == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Connection": "keep-alive, Upgrade"},  # as Firefox sends it
        {"Upgrade": "WebSocket", "Connection": "upgrade"},
        {"Sec-WebSocket-Key": " dGhlIHNhbXBsZSBub25jZQ== "},
    ],
)
async def test_header_variants_browsers_send_are_accepted(
    anyio_backend: str, headers: dict[str, str]
) -> None:
    worker = ws_worker(echo)
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker), "/", headers) as (client, _):
            await client.send(frame(TEXT, b"ok"))
            assert (await client.frame()).payload == b"ok"


async def test_a_post_is_refused(anyio_backend: str) -> None:
    worker = ws_worker(echo)
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await client.send(upgrade_request().replace(b"GET", b"POST", 1))
            head = await client.head()
            assert await client.closed()
    assert head.status == 400


async def test_the_connect_callback_gets_the_request_and_adds_headers(anyio_backend: str) -> None:
    seen: dict[str, Any] = {}

    def on_connect(connection: TcpConnection, request: Request) -> dict[str, str]:
        seen.update(
            path=request.path,
            token=request.get("token"),
            origin=request.header("origin"),
            custom=request.headers.get("x-custom"),
            open=connection.websocket.open,
        )
        return {"X-Session": "s-1", "Set-Cookie": "a=b"}

    worker = ws_worker(echo)
    worker.on_websocket_connect = on_connect
    headers = {"Origin": "http://example.com", "X-Custom": "yes"}
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker), "/room/1?token=abc", headers) as (client, head):
            await client.send(frame(TEXT, b"ping?"))
            assert (await client.frame()).payload == b"ping?"
    assert seen == {
        "path": "/room/1",
        "token": "abc",
        "origin": "http://example.com",
        "custom": "yes",
        "open": False,
    }
    assert head.header("x-session") == "s-1"
    assert head.header("set-cookie") == "a=b"
    assert head.header("server") == "workerman"


async def test_an_async_connect_callback_is_awaited_before_the_101(anyio_backend: str) -> None:
    order: list[str] = []

    async def on_connect(connection: TcpConnection, request: Request) -> dict[str, str]:
        order.append("connect")
        await anyio.sleep(0.05)
        connection.send("welcome")  # before the 101: it waits for it
        order.append("connected")
        return {"X-Async": "1"}

    def on_message(connection: TcpConnection, message: Any) -> None:
        order.append(f"message {message}")
        connection.send(message)

    worker = ws_worker(on_message)
    worker.on_websocket_connect = on_connect
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            # the first frame travels with the handshake: it waits for the callback
            await client.send(upgrade_request() + frame(TEXT, b"early"))
            head = await client.head()
            assert head.status == 101
            assert head.header("x-async") == "1"
            assert (await client.frame()).payload == b"welcome"
            assert (await client.frame()).payload == b"early"
    assert order == ["connect", "connected", "message early"]


async def test_closing_in_the_connect_callback_refuses_the_client(anyio_backend: str) -> None:
    worker = ws_worker(echo)
    worker.on_websocket_connect = lambda connection, request: connection.close()
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await client.send(upgrade_request())
            head = await client.head()
            assert await client.closed()
            assert b"101" not in client.buffer
    assert head.status == 403


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_request_error_in_the_connect_callback_is_the_answer(
    anyio_backend: str, is_async: bool
) -> None:
    def refuse(connection: TcpConnection, request: Request) -> None:
        if request.get("token") != "secret":
            raise RequestError(403, "bad token")

    async def refuse_later(connection: TcpConnection, request: Request) -> None:
        await anyio.sleep(0)
        refuse(connection, request)

    worker = ws_worker(echo)
    worker.on_websocket_connect = refuse_later if is_async else refuse
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await client.send(upgrade_request("/?token=guess"))
            head = await client.head()
            assert await client.closed()
            assert client.buffer.endswith(b"bad token")
        async with raw_client(port_of(worker), "/?token=secret") as (client, _):
            await client.send(frame(TEXT, b"in"))
            assert (await client.frame()).payload == b"in"
    assert head.status == 403


async def test_a_connect_callback_that_raises_gets_500(anyio_backend: str) -> None:
    def broken(connection: TcpConnection, request: Request) -> None:
        raise KeyError("oops")

    worker = ws_worker(echo)
    worker.on_websocket_connect = broken
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await client.send(upgrade_request())
            head = await client.head()
            assert await client.closed()
    assert head.status == 500
    assert statistics.throw_exception == 1


@pytest.mark.parametrize(
    "returned",
    [True, 42, "X-Not: headers", [("X-Num", 5, 6)], {"X-Bad\r\n": "v"}, {"X-A": "b\r\nc"}],
)
async def test_a_connect_callback_returning_no_headers_gets_500(
    anyio_backend: str, returned: Any
) -> None:
    worker = ws_worker(echo)
    worker.on_websocket_connect = lambda connection, request: returned
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await client.send(upgrade_request())
            head = await client.head()
            assert await client.closed()
        async with raw_connection(port_of(worker)) as client:  # the server carries on
            await client.send(upgrade_request())
            assert (await client.head()).status == 500
    assert head.status == 500
    assert statistics.throw_exception == 2


async def test_a_list_of_header_pairs_works_too(anyio_backend: str) -> None:
    worker = ws_worker(echo)
    worker.on_websocket_connect = lambda connection, request: [("X-A", "1"), ("X-A", "2")]
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker)) as (_client, head):
            pass
    assert head.header("x-a") == "1, 2"


async def test_messages_sent_in_the_connect_callback_follow_the_101(anyio_backend: str) -> None:
    def on_connect(connection: TcpConnection, request: Request) -> None:
        connection.send("first")
        connection.send(b"\x00second")

    worker = ws_worker(echo)
    worker.on_websocket_connect = on_connect
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await client.send(upgrade_request())
            head = await client.head()
            assert head.raw.startswith(b"HTTP/1.1 101 ")  # nothing came before it
            first, second = await client.frame(), await client.frame()
    assert (first.opcode, first.payload) == (TEXT, b"first")
    assert (second.opcode, second.payload) == (BINARY, b"\x00second")


async def test_messages_sent_on_tcp_connect_wait_for_the_handshake(anyio_backend: str) -> None:
    worker = ws_worker(echo)
    worker.on_connect = lambda connection: connection.send("hello early")
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await anyio.sleep(0.05)
            assert client.buffer == b""
            await client.send(upgrade_request())
            assert (await client.head()).status == 101
            assert (await client.frame()).payload == b"hello early"


async def test_the_head_may_arrive_in_pieces(anyio_backend: str) -> None:
    worker = ws_worker(echo)
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            data = upgrade_request() + frame(TEXT, b"split")
            for i in range(0, len(data), 7):
                await client.send(data[i : i + 7])
                await anyio.sleep(0.001)
            assert (await client.head()).status == 101
            assert (await client.frame()).payload == b"split"


async def test_a_head_over_16_kib_gets_431(anyio_backend: str) -> None:
    worker = ws_worker(echo)
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await client.send(upgrade_request("/", {"X-Big": "a" * 20000}))
            head = await client.head()
            assert await client.closed()
    assert head.status == 431


# -- subprotocols and the websockets client ------------------------------------------------


async def test_the_servers_preferred_subprotocol_is_chosen(anyio_backend: str) -> None:
    worker = ws_worker(echo, WebSocket.configure(subprotocols=["chat.v2", "chat.v1"]))
    port = 0

    async def client() -> tuple[str | None, str | None, str | None]:
        url = f"ws://127.0.0.1:{port}/"
        async with connect(url, subprotocols=["chat.v1", "chat.v2"]) as ws:  # type: ignore[list-item]
            both = ws.subprotocol
        async with connect(url, subprotocols=["chat.v1"]) as ws:  # type: ignore[list-item]
            one = ws.subprotocol
        async with connect(url) as ws:
            none = ws.subprotocol
        return both, one, none

    async with serving(anyio_backend, worker):
        port = port_of(worker)
        chosen = await in_asyncio_thread(client)
    assert chosen == ("chat.v2", "chat.v1", None)


async def test_a_subprotocol_the_server_lacks_gets_none(anyio_backend: str) -> None:
    worker = ws_worker(echo)
    worker.protocol = WebSocket.configure(subprotocols=["mqtt"])
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker), "/", {"Sec-WebSocket-Protocol": "a, b"}) as (
            _client,
            head,
        ):
            assert head.header("sec-websocket-protocol") is None
            assert connection_subprotocols(worker) == [None]


def connection_subprotocols(worker: Worker) -> list[str | None]:
    return [c.websocket.subprotocol for c in worker.connections.values()]


async def test_text_and_binary_echo_with_the_websockets_client(anyio_backend: str) -> None:
    received: list[Any] = []

    def on_message(connection: TcpConnection, message: Any) -> None:
        received.append(message)
        connection.send(message)

    worker = ws_worker(on_message)
    port = 0
    big = os.urandom(70_000)

    async def client() -> list[Any]:
        got = []
        async with connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
            for message in ("héllo ☃", b"\x00\x01\xff", "", b"", big, "x" * 200):
                await ws.send(message)
                got.append(await ws.recv())
        return got

    async with serving(anyio_backend, worker):
        port = port_of(worker)
        echoed = await in_asyncio_thread(client)
    sent = ["héllo ☃", b"\x00\x01\xff", "", b"", big, "x" * 200]
    assert echoed == sent
    assert received == sent
    assert [type(m) for m in received] == [str, bytes, str, bytes, bytes, str]


async def test_a_websocket_worker_over_tls(anyio_backend: str) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    worker = Worker("websocket://127.0.0.1:0", name="wss", ssl=server_ctx)
    worker.on_message = echo
    port = 0

    async def client() -> Any:
        async with connect(f"wss://localhost:{port}/", ssl=client_ctx) as ws:
            await ws.send("secret")
            return await ws.recv()

    async with serving(anyio_backend, worker):
        port = port_of(worker)
        assert await in_asyncio_thread(client) == "secret"


async def test_one_mib_both_ways_with_and_without_compression(anyio_backend: str) -> None:
    worker = ws_worker(echo)
    port = 0
    text = "0123456789abcdef" * 65536  # 1 MiB
    blob = os.urandom(1024 * 1024)

    async def client(compression: str | None) -> tuple[bool, bool]:
        url = f"ws://127.0.0.1:{port}/"
        async with connect(url, compression=compression, max_size=2**21) as ws:
            await ws.send(text)
            same_text = await ws.recv() == text
            await ws.send(blob)
            same_blob = await ws.recv() == blob
        return same_text, same_blob

    async with serving(anyio_backend, worker):
        port = port_of(worker)
        assert await in_asyncio_thread(lambda: client(None)) == (True, True)
        assert await in_asyncio_thread(lambda: client("deflate")) == (True, True)


async def test_an_async_handler_keeps_the_order_of_one_reads_messages(anyio_backend: str) -> None:
    async def on_message(connection: TcpConnection, message: Any) -> None:
        await anyio.sleep(0.01)
        connection.send(message)

    worker = ws_worker(on_message)
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker)) as (client, _):
            await client.send(
                b"".join(frame(TEXT, str(i).encode()) for i in range(5))
                + frame(PING, b"after")
                + frame(TEXT, b"5")
            )
            frames = [await client.frame() for _ in range(7)]
    assert [(f.opcode, f.payload) for f in frames] == [
        *[(TEXT, str(i).encode()) for i in range(5)],
        (PONG, b"after"),
        (TEXT, b"5"),
    ]


# -- fragmentation and control frames ------------------------------------------------------


async def test_a_fragmented_message_is_reassembled_around_a_ping(anyio_backend: str) -> None:
    received: list[Any] = []
    pings: list[bytes] = []

    def on_message(connection: TcpConnection, message: Any) -> None:
        received.append(message)
        connection.send(message)

    worker = ws_worker(on_message)
    worker.on_websocket_ping = lambda connection, payload: pings.append(payload)
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker)) as (client, _):
            snowman = "☃".encode()  # 3 bytes, split across frames
            await client.send(
                frame(TEXT, b"ab" + snowman[:1], fin=False)
                + frame(PING, b"in-between")
                + frame(CONT, snowman[1:], fin=False)
            )
            pong = await client.frame()
            await client.send(frame(CONT, b"cd"))
            message = await client.frame()
            await client.send(frame(BINARY, b"\x01", fin=False) + frame(CONT, b"\x02"))
            binary = await client.frame()
    assert (pong.opcode, pong.payload) == (PONG, b"in-between")
    assert (message.opcode, message.payload) == (TEXT, "ab☃cd".encode())
    assert (binary.opcode, binary.payload) == (BINARY, b"\x01\x02")
    assert received == ["ab☃cd", b"\x01\x02"]
    assert pings == [b"in-between"]


async def test_pings_are_answered_and_pongs_reported(anyio_backend: str) -> None:
    events: list[tuple[str, bytes]] = []
    worker = ws_worker(echo)
    worker.on_websocket_ping = lambda connection, payload: events.append(("ping", payload))
    worker.on_websocket_pong = lambda connection, payload: events.append(("pong", payload))
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker)) as (client, _):
            await client.send(frame(PING, b"p1") + frame(PING, b"") + frame(PONG, b"unsolicited"))
            first, second = await client.frame(), await client.frame()
            (connection,) = worker.connections.values()
            assert connection.websocket.ping(b"from server")
            server_ping = await client.frame()
            await client.send(frame(PONG, server_ping.payload))
            with anyio.fail_after(5):
                while len(events) < 4:
                    await anyio.sleep(0.01)
    assert (first.opcode, first.payload) == (PONG, b"p1")
    assert (second.opcode, second.payload) == (PONG, b"")
    assert (server_ping.opcode, server_ping.payload) == (PING, b"from server")
    assert events == [
        ("ping", b"p1"),
        ("ping", b""),
        ("pong", b"unsolicited"),
        ("pong", b"from server"),
    ]


async def test_an_async_ping_callback_runs(anyio_backend: str) -> None:
    done = anyio.Event()

    async def on_ping(connection: TcpConnection, payload: bytes) -> None:
        await anyio.sleep(0)
        connection.send(payload.decode())
        done.set()

    worker = ws_worker(echo)
    worker.on_websocket_ping = on_ping
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker)) as (client, _):
            await client.send(frame(PING, b"async"))
            pong, text = await client.frame(), await client.frame()
    assert (pong.opcode, text.opcode, text.payload) == (PONG, TEXT, b"async")


# -- the closing handshake -----------------------------------------------------------------


async def test_a_client_close_is_reported_and_echoed(anyio_backend: str) -> None:
    closes: list[tuple[int, str]] = []
    closed = anyio.Event()
    worker = ws_worker(echo)
    worker.on_websocket_close = lambda connection, code, reason: closes.append((code, reason))
    worker.on_close = lambda connection: closed.set()
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker)) as (client, _):
            await client.send(frame(TEXT, b"last") + frame(CLOSE, close_payload(4000, "bye")))
            frames = await client.frames_until_eof()
        with anyio.fail_after(5):
            await closed.wait()
    assert [(f.opcode, f.payload) for f in frames] == [
        (TEXT, b"last"),
        (CLOSE, close_payload(4000)),
    ]
    assert closes == [(4000, "bye")]


async def test_a_close_without_a_code_is_answered_with_1000(anyio_backend: str) -> None:
    closes: list[tuple[int, str]] = []
    worker = ws_worker(echo)
    worker.on_websocket_close = lambda connection, code, reason: closes.append((code, reason))
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker)) as (client, _):
            await client.send(frame(CLOSE))
            frames = await client.frames_until_eof()
    assert [f.close for f in frames] == [(1000, "")]
    assert closes == [(1005, "")]


async def test_the_websockets_client_sees_the_servers_close_code(anyio_backend: str) -> None:
    def on_message(connection: TcpConnection, message: Any) -> None:
        if message == "close me":
            connection.websocket.close(4001, "why")
        else:
            connection.close()

    worker = ws_worker(on_message)
    port = 0

    async def client(text: str) -> tuple[int, str]:
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.send(text)
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
        assert info.value.rcvd is not None
        return info.value.rcvd.code, info.value.rcvd.reason

    async with serving(anyio_backend, worker):
        port = port_of(worker)
        assert await in_asyncio_thread(lambda: client("close me")) == (4001, "why")
        assert await in_asyncio_thread(lambda: client("anything")) == (1000, "")


async def test_close_refuses_a_code_that_may_not_be_sent(anyio_backend: str) -> None:
    errors: list[Exception] = []

    def on_message(connection: TcpConnection, message: Any) -> None:
        for code in (1006, 1015, 999, 5000, 2999):
            try:
                connection.websocket.close(code)
            except ValueError as exc:
                errors.append(exc)
        connection.send("still open")

    worker = ws_worker(on_message)
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker)) as (client, _):
            await client.send(frame(TEXT, b"x"))
            reply = await client.frame()
    assert len(errors) == 5
    assert reply.payload == b"still open"


async def test_close_with_1005_sends_a_close_without_a_code(anyio_backend: str) -> None:
    worker = ws_worker(lambda connection, message: connection.websocket.close(1005))
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker)) as (client, _):
            await client.send(frame(TEXT, b"x"))
            frames = await client.frames_until_eof()
    assert [(f.opcode, f.payload) for f in frames] == [(CLOSE, b"")]


async def test_a_close_handshake_with_the_websockets_client(anyio_backend: str) -> None:
    closes: list[tuple[int, str]] = []
    worker = ws_worker(echo)
    worker.on_websocket_close = lambda connection, code, reason: closes.append((code, reason))
    port = 0

    async def client() -> tuple[int | None, str | None]:
        ws = await connect(f"ws://127.0.0.1:{port}/")
        await ws.close(4000, "bye")
        assert ws.close_code is not None
        return ws.close_code, ws.close_reason

    async with serving(anyio_backend, worker):
        port = port_of(worker)
        assert await in_asyncio_thread(client) == (4000, "")
    assert closes == [(4000, "bye")]


# -- heartbeat -----------------------------------------------------------------------------


async def test_the_heartbeat_pings_a_silent_client_then_closes_it(anyio_backend: str) -> None:
    worker = ws_worker(echo, WebSocket.configure(heartbeat=0.2))
    port = 0

    async def lively() -> bool:  # the websockets client answers pings by itself
        async with connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as ws:
            await anyio.sleep(1.0)  # five beats: pinged, never closed
            await ws.send("still here")
            return await ws.recv() == "still here"

    async with serving(anyio_backend, worker):
        port = port_of(worker)
        async with raw_client(port) as (client, _):
            async with anyio.create_task_group() as tg:

                async def check_lively() -> None:
                    assert await in_asyncio_thread(lively)

                tg.start_soon(check_lively)
                ping = await client.frame(timeout=2)
                frames = await client.frames_until_eof(timeout=2)
    assert ping.opcode == PING
    assert [f.close for f in frames] == [(1011, "heartbeat timeout")]
    assert statistics.timeouts == 1


async def test_the_heartbeat_closes_a_connection_that_never_shakes_hands(
    anyio_backend: str,
) -> None:
    worker = ws_worker(echo)
    worker.protocol = WebSocket.configure(heartbeat=0.1)
    async with serving(anyio_backend, worker):
        async with raw_connection(port_of(worker)) as client:
            await client.send(b"GET / HTTP/1.1\r\n")
            assert await client.closed(timeout=2)
            assert client.buffer == b""


# -- permessage-deflate --------------------------------------------------------------------


async def test_compression_is_negotiated_with_the_websockets_client(anyio_backend: str) -> None:
    compressed: list[bool] = []

    def on_message(connection: TcpConnection, message: Any) -> None:
        compressed.append(connection.websocket.compressed)
        connection.send(message)

    worker = ws_worker(on_message)
    port = 0
    texts = ["repeat " * 100, "repeat " * 100 + "!", "other"]

    async def client(factory: ClientPerMessageDeflateFactory) -> tuple[list[Any], str | None]:
        async with connect(f"ws://127.0.0.1:{port}/", extensions=[factory], compression=None) as ws:
            got = []
            for text in texts:
                await ws.send(text)
                got.append(await ws.recv())
            await ws.send(b"\x00" * 5000)
            got.append(await ws.recv())
            assert ws.response is not None
            return got, ws.response.headers.get("Sec-WebSocket-Extensions")

    takeover = ClientPerMessageDeflateFactory()
    no_takeover = ClientPerMessageDeflateFactory(
        server_no_context_takeover=True, client_no_context_takeover=True
    )
    small_windows = ClientPerMessageDeflateFactory(
        server_max_window_bits=10, client_max_window_bits=9
    )
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        got, agreed = await in_asyncio_thread(lambda: client(takeover))
        assert got == [*texts, b"\x00" * 5000]
        # the server caps its window (and the client's, when offered) at 12 bits
        assert agreed == (
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
        )
        got, agreed = await in_asyncio_thread(lambda: client(no_takeover))
        assert got == [*texts, b"\x00" * 5000]
        assert agreed == (
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=12;"
            " client_max_window_bits=12"
        )
        got, agreed = await in_asyncio_thread(lambda: client(small_windows))
        assert got == [*texts, b"\x00" * 5000]
        assert agreed == ("permessage-deflate; server_max_window_bits=10; client_max_window_bits=9")
    assert compressed == [True] * 12


async def test_one_message_sent_to_plain_and_compressed_clients(anyio_backend: str) -> None:
    worker = ws_worker()
    message = "broadcast " * 30
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        offer = {"Sec-WebSocket-Extensions": "permessage-deflate; server_no_context_takeover"}
        async with raw_client(port) as (plain, _), raw_client(port, "/", offer) as (packed, _):
            with anyio.fail_after(5):
                while len(worker.connections) < 2:
                    await anyio.sleep(0.01)
            connections = list(worker.connections.values())
            for connection in connections + connections[::-1]:
                connection.send(message)  # the very same object each time
            frames = [await plain.frame(), await plain.frame()]
            squeezed = [await packed.frame(), await packed.frame()]
    assert [(f.rsv, f.payload) for f in frames] == [(0, message.encode())] * 2
    assert [(f.rsv, f.payload) for f in squeezed] == [(0x40, deflate(message.encode()))] * 2


async def test_compressed_frames_on_the_wire(anyio_backend: str) -> None:
    worker = ws_worker(echo)
    offer = {"Sec-WebSocket-Extensions": "permessage-deflate; server_no_context_takeover"}
    text = b"compress me " * 20
    async with serving(anyio_backend, worker):
        async with raw_client(port_of(worker), "/", offer) as (client, head):
            assert head.header("sec-websocket-extensions") == (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=12"
            )
            await client.send(frame(TEXT, deflate(text), rsv=0x40))
            reply = await client.frame()
            # a fragmented compressed message: RSV1 on the first frame only
            packed = deflate(text)
            await client.send(
                frame(TEXT, packed[:5], rsv=0x40, fin=False) + frame(CONT, packed[5:])
            )
            fragmented = await client.frame()
            await client.send(frame(BINARY, b"plain"))  # no RSV1: not compressed
            plain = await client.frame()
    assert (reply.rsv, reply.opcode) == (0x40, TEXT)
    assert reply.payload == deflate(text)  # no context taken over: the same bytes
    assert fragmented.payload == deflate(text)
    assert plain.rsv == 0x40
    assert plain.payload == deflate(b"plain")


async def test_compression_can_be_turned_off(anyio_backend: str) -> None:
    worker = ws_worker(echo, WebSocket.configure(compression=False))
    async with serving(anyio_backend, worker):
        async with raw_client(
            port_of(worker), "/", {"Sec-WebSocket-Extensions": "permessage-deflate"}
        ) as (client, head):
            assert head.header("sec-websocket-extensions") is None
            await client.send(frame(TEXT, b"x" * 300))
            reply = await client.frame()
    assert (reply.rsv, reply.payload) == (0, b"x" * 300)


# -- the stream in random pieces -----------------------------------------------------------

_messages = st.lists(
    st.one_of(st.text(max_size=300), st.binary(max_size=300)), min_size=1, max_size=8
)


def _wire_message(message: str | bytes, pieces: int, compressed: bool) -> bytes:
    opcode = TEXT if isinstance(message, str) else BINARY
    payload = message.encode() if isinstance(message, str) else message
    if compressed:
        payload = deflate(payload)
    if pieces <= 1 or len(payload) < pieces:
        return frame(opcode, payload, rsv=0x40 if compressed else 0)
    step = len(payload) // pieces + 1
    chunks = [payload[i : i + step] for i in range(0, len(payload), step)]
    out = b""
    for i, chunk in enumerate(chunks):
        out += frame(
            opcode if i == 0 else CONT,
            chunk,
            fin=i == len(chunks) - 1,
            rsv=0x40 if compressed and i == 0 else 0,
            key=os.urandom(4),
        )
        if i == 0:
            out += frame(PING, b"hb")
    return out


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    messages=_messages,
    pieces=st.lists(st.integers(1, 4), min_size=8, max_size=8),
    cuts=st.lists(st.integers(1, 400), min_size=1, max_size=30),
    compressed=st.booleans(),
)
def test_random_splits_of_a_frame_stream_give_the_same_messages(
    anyio_backend: str,
    messages: list[str | bytes],
    pieces: list[int],
    cuts: list[int],
    compressed: bool,
) -> None:
    stream = b"".join(
        _wire_message(m, pieces[i], compressed) for i, m in enumerate(messages)
    ) + frame(CLOSE, close_payload(1000))

    async def main() -> list[Any]:
        worker = ws_worker(echo)
        offer = {"Sec-WebSocket-Extensions": "permessage-deflate"} if compressed else {}
        async with serving(anyio_backend, worker):
            async with raw_client(port_of(worker), "/", offer) as (client, _):
                pos = 0
                for cut in cuts * (len(stream) // max(sum(cuts), 1) + 1):
                    if pos >= len(stream):
                        break
                    await client.send(stream[pos : pos + cut])
                    pos += cut
                return await client.frames_until_eof()

    frames = anyio.run(main, backend=anyio_backend)
    data = [f for f in frames if f.opcode in (TEXT, BINARY)]
    assert all(f.opcode == PONG for f in frames if f.opcode not in (TEXT, BINARY, CLOSE))
    assert frames[-1].close == (1000, "")
    inflate = zlib_inflater() if compressed else None
    got = []
    for f in data:
        payload = f.payload
        if f.rsv & 0x40:
            assert inflate is not None
            payload = inflate(payload)
        got.append(payload.decode() if f.opcode == TEXT else payload)
    assert got == messages


def zlib_inflater() -> Any:
    import zlib

    decompressor = zlib.decompressobj(-15)

    def inflate(payload: bytes) -> bytes:
        return decompressor.decompress(payload + b"\x00\x00\xff\xff")

    return inflate


async def test_a_client_that_refuses_the_upgrade_sees_the_status(anyio_backend: str) -> None:
    worker = ws_worker(echo)

    def refuse(connection: TcpConnection, request: Request) -> None:
        raise RequestError(403, "no")

    worker.on_websocket_connect = refuse
    port = 0

    async def client() -> int:
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"ws://127.0.0.1:{port}/"):
                pass
        return info.value.response.status_code

    async with serving(anyio_backend, worker):
        port = port_of(worker)
        assert await in_asyncio_thread(client) == 403


def test_configure_makes_a_protocol_with_other_settings_and_keeps_the_rest() -> None:
    from workerman.core.websocket import WebSocketOptions

    beat = WebSocket.configure(heartbeat=5)
    both = beat.configure(subprotocols=("chat",))
    assert WebSocket.options == WebSocketOptions()  # the default is untouched
    assert WebSocket.options.heartbeat == 30.0  # on unless turned off
    assert beat.options == WebSocketOptions(heartbeat=5.0)
    assert both.options == WebSocketOptions(subprotocols=("chat",), heartbeat=5.0)
    assert issubclass(both, WebSocket) and both.__slots__ == ()
    with pytest.raises(ValueError, match="heartbeat"):
        WebSocket.configure(heartbeat=-1)
