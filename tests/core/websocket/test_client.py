"""The ws:// and wss:// client (AsyncTcpConnection) against the websockets library's
server, and against raw servers that show its bytes or misbehave on purpose."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest
import trustme

from workerman.core import CONNECT_FAIL, AsyncTcpConnection, ConnectionStatus, statistics
from workerman.core.websocket import WebSocketState

from ..conftest import running_loop
from ._raw_ws import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    RawClient,
    ThreadedServer,
    accept_of,
    close_payload,
    frame,
)

pytestmark = pytest.mark.anyio


async def until(predicate: Callable[[], Any], timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


class Recorder:
    """Every callback of a ws:// connection, in one ordered list of events."""

    def __init__(self, connection: AsyncTcpConnection) -> None:
        self.events: list[Any] = []
        self.responses: list[Any] = []
        self.connection = connection
        record = self.events.append
        connection.on_connect = lambda c: record("tcp")
        connection.on_message = lambda c, message: record(message)
        connection.on_error = lambda c, code, text: record(("error", code, text))
        connection.on_close = lambda c: record("close")
        ws = connection.websocket
        ws.on_connect = self.opened
        ws.on_close = lambda c, code, reason: record(("peer close", code, reason))
        ws.on_pong = lambda c, payload: record(("pong", payload))
        ws.on_ping = lambda c, payload: record(("ping", payload))

    def opened(self, connection: Any, response: Any) -> None:
        self.events.append(("open", response.status))
        self.responses.append(response)

    def messages(self) -> list[Any]:
        return [e for e in self.events if isinstance(e, str | bytes) and e not in ("tcp", "close")]


async def echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


# -- against the websockets server ---------------------------------------------------------


async def test_the_handshake_carries_origin_subprotocols_and_headers(anyio_backend: str) -> None:
    seen: dict[str, Any] = {}

    async def handler(ws: Any) -> None:
        request = ws.request
        seen.update(
            path=request.path,
            origin=request.headers.get("Origin"),
            protocols=request.headers.get("Sec-WebSocket-Protocol"),
            custom=request.headers.get("X-Token"),
            host=request.headers.get("Host"),
            chosen=ws.subprotocol,
        )
        await echo(ws)

    async with (
        running_loop(anyio_backend),
        ThreadedServer(handler, subprotocols=["v2", "v3"]) as server,
    ):
        client = AsyncTcpConnection(f"ws://127.0.0.1:{server.port}/feed?room=7")
        ws = client.websocket
        ws.origin = "https://app.example"
        ws.subprotocols = ["v1", "v2"]
        ws.headers = {"X-Token": "t0k"}
        recorder = Recorder(client)
        client.connect()
        client.send("hello")
        await until(lambda: "hello" in recorder.events)
        assert ws.open
        assert ws.subprotocol == "v2"
        client.close()
        await until(lambda: "close" in recorder.events)
    assert seen == {
        "path": "/feed?room=7",
        "origin": "https://app.example",
        "protocols": "v1, v2",
        "custom": "t0k",
        "host": f"127.0.0.1:{server.port}",
        "chosen": "v2",
    }
    assert recorder.events[:2] == ["tcp", ("open", 101)]
    (response,) = recorder.responses
    assert response.get_header("sec-websocket-protocol") == "v2"
    assert response.get_header("upgrade") == "websocket"


async def test_text_and_binary_echo(anyio_backend: str) -> None:
    big = bytes(range(256)) * 1000
    async with running_loop(anyio_backend), ThreadedServer(echo, max_size=2**20) as server:
        for compression in (True, False):
            client = AsyncTcpConnection(f"ws://127.0.0.1:{server.port}")
            client.websocket.compression = compression
            recorder = Recorder(client)
            client.connect()
            await until(lambda r=recorder: ("open", 101) in r.events)  # type: ignore[misc]
            assert client.websocket.compressed is compression
            for message in ("héllo ☃", b"\x00\xff", "", big):
                client.send(message)
            await until(lambda r=recorder: len(r.messages()) == 4)  # type: ignore[misc]
            assert recorder.messages() == ["héllo ☃", b"\x00\xff", "", big]
            client.close()
            await until(lambda r=recorder: "close" in r.events)  # type: ignore[misc]


async def test_messages_sent_before_connect_wait_for_the_handshake(anyio_backend: str) -> None:
    async with running_loop(anyio_backend), ThreadedServer(echo) as server:
        client = AsyncTcpConnection(f"ws://127.0.0.1:{server.port}/")
        recorder = Recorder(client)
        assert client.send("one") is None
        client.send(b"two")
        client.connect()
        client.send("three")  # connecting: still before the handshake
        await until(lambda: len(recorder.messages()) == 3)
        client.close()
    assert recorder.messages() == ["one", b"two", "three"]


async def test_ping_interval_sends_pings_the_server_answers(anyio_backend: str) -> None:
    async with running_loop(anyio_backend), ThreadedServer(echo, ping_interval=None) as server:
        client = AsyncTcpConnection(f"ws://127.0.0.1:{server.port}/")
        client.websocket.ping_interval = 0.05
        recorder = Recorder(client)
        client.connect()
        await until(lambda: recorder.events.count(("pong", b"")) >= 3)
        client.close()
        await until(lambda: "close" in recorder.events)
        pongs = recorder.events.count(("pong", b""))
        await anyio.sleep(0.15)  # the timer stopped with the connection
        assert recorder.events.count(("pong", b"")) == pongs


async def test_a_server_close_reaches_the_close_callbacks(anyio_backend: str) -> None:
    async def handler(ws: Any) -> None:
        await ws.recv()
        await ws.close(4002, "server bye")

    async with running_loop(anyio_backend), ThreadedServer(handler) as server:
        client = AsyncTcpConnection(f"ws://127.0.0.1:{server.port}/")
        recorder = Recorder(client)
        client.connect()
        client.send("go")
        await until(lambda: "close" in recorder.events)
    assert recorder.events == ["tcp", ("open", 101), ("peer close", 4002, "server bye"), "close"]
    assert client.status == ConnectionStatus.CLOSED


async def test_a_client_close_completes_the_handshake_with_the_server(anyio_backend: str) -> None:
    codes: list[Any] = []

    async def handler(ws: Any) -> None:
        await ws.wait_closed()
        codes.append((ws.close_code, ws.close_reason))

    async with running_loop(anyio_backend), ThreadedServer(handler) as server:
        client = AsyncTcpConnection(f"ws://127.0.0.1:{server.port}/")
        recorder = Recorder(client)
        client.connect()
        await until(lambda: ("open", 101) in recorder.events)
        client.websocket.close(4005, "done here")
        await until(lambda: bool(codes))
    assert codes == [(4005, "done here")]


async def test_reconnect_after_the_server_closes(anyio_backend: str) -> None:
    connections = 0

    async def handler(ws: Any) -> None:
        nonlocal connections
        connections += 1
        message = await ws.recv()
        await ws.send(f"{message} #{connections}")
        if connections == 1:
            await ws.close(1001, "restarting")
        else:
            await echo(ws)

    async with running_loop(anyio_backend), ThreadedServer(handler) as server:
        client = AsyncTcpConnection(f"ws://127.0.0.1:{server.port}/")
        recorder = Recorder(client)

        def reconnect(connection: Any) -> None:
            recorder.events.append("close")
            if connections == 1:
                client.reconnect()
                assert client.status == ConnectionStatus.CONNECTING
                assert client.send("again") is None  # waits for the new handshake

        client.on_close = reconnect
        client.connect()
        client.send("first")
        await until(lambda: "again #2" in recorder.events)
        client.send("echo")
        await until(lambda: "echo" in recorder.events)
        client.close()
    assert recorder.events[:5] == [
        "tcp",
        ("open", 101),
        "first #1",
        ("peer close", 1001, "restarting"),
        "close",
    ]
    assert recorder.events[5:8] == ["tcp", ("open", 101), "again #2"]


async def test_messages_sent_while_a_reconnect_waits_are_queued(anyio_backend: str) -> None:
    async with running_loop(anyio_backend), ThreadedServer(echo) as server:
        client = AsyncTcpConnection(f"ws://127.0.0.1:{server.port}/")
        recorder = Recorder(client)
        client.connect()
        await until(lambda: client.websocket.open)
        client.reconnect(0.05)
        await until(lambda: "close" in recorder.events)
        accepted = client.send("during the delay")
        await until(lambda: recorder.events.count(("open", 101)) == 2)
        client.send("after")
        await until(lambda: "after" in recorder.events)
        client.close()
    assert accepted is None
    assert recorder.messages() == ["during the delay", "after"]


async def test_wss_with_a_trusted_certificate(anyio_backend: str) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    seen: list[str | None] = []

    async def handler(ws: Any) -> None:
        seen.append(ws.request.headers.get("Host"))
        await echo(ws)

    async with running_loop(anyio_backend), ThreadedServer(handler, ssl=server_ctx) as server:
        client = AsyncTcpConnection(f"wss://localhost:{server.port}/secure", ssl=client_ctx)
        recorder = Recorder(client)
        client.connect()
        client.send("over tls")
        await until(lambda: "over tls" in recorder.events)
        assert client.transport == "ssl"
        client.close()
        await until(lambda: "close" in recorder.events)
    assert seen == [f"localhost:{server.port}"]


async def test_a_server_that_refuses_the_upgrade_fails_the_connect(anyio_backend: str) -> None:
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    def refuse(connection: Any, request: Any) -> Response:
        return Response(403, "Forbidden", Headers(), b"nope")

    async with running_loop(anyio_backend), ThreadedServer(echo, process_request=refuse) as server:
        client = AsyncTcpConnection(f"ws://127.0.0.1:{server.port}/")
        recorder = Recorder(client)
        client.connect()
        client.send("never")
        await until(lambda: "close" in recorder.events)
    errors = [e for e in recorder.events if e[0] == "error"]
    assert [(code, "403" in text) for _, code, text in errors] == [(CONNECT_FAIL, True)]
    assert recorder.messages() == []
    assert statistics.protocol_errors == 1


# -- against raw servers -------------------------------------------------------------------


@asynccontextmanager
async def raw_server(
    serve_one: Callable[[RawClient], Any],
) -> AsyncIterator[int]:
    """A TCP server in the test's own loop that hands its first connection to
    ``serve_one``; yields the port."""
    listener = (await anyio.create_tcp_listener(local_host="127.0.0.1")).listeners[0]
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def accept() -> None:
        async with listener:
            stream = await listener.accept()  # type: ignore[attr-defined]
            async with stream:
                await serve_one(RawClient(stream))

    with anyio.fail_after(10):  # the task group waits for serve_one to finish
        async with anyio.create_task_group() as tg:
            tg.start_soon(accept)
            yield port


async def read_request(peer: RawClient) -> tuple[str, dict[str, str]]:
    """The client's upgrade request: its request line, and its headers by lower-cased name."""
    with anyio.fail_after(5):
        while b"\r\n\r\n" not in peer.buffer:
            assert await peer._fill()
    raw, _, peer.buffer = peer.buffer.partition(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def switching(key: str, extra: str = "") -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_of(key)}\r\n{extra}\r\n"
    ).encode()


async def test_every_frame_is_masked_with_a_fresh_nonzero_key(anyio_backend: str) -> None:
    captured: list[Any] = []
    request: list[Any] = []

    async def serve_one(peer: RawClient) -> None:
        line, headers = await read_request(peer)
        request.append((line, headers))
        await peer.send(switching(headers["sec-websocket-key"]))
        while len(captured) < 101:
            captured.append(await peer.frame())

    async with running_loop(anyio_backend):
        async with raw_server(serve_one) as port:
            client = AsyncTcpConnection(f"ws://127.0.0.1:{port}/raw")
            client.websocket.compression = False
            client.connect()
            for i in range(100):
                client.send(f"message {i}" if i % 2 else b"\x00" * i)
            assert not client.websocket.ping(b"too early")  # not open yet: not sent
            await until(lambda: client.websocket.open)
            assert client.websocket.ping(b"are you there")
    ((line, headers),) = request
    assert line == "GET /raw HTTP/1.1"
    assert headers["upgrade"] == "websocket"
    assert headers["connection"] == "Upgrade"
    assert headers["sec-websocket-version"] == "13"
    assert "sec-websocket-extensions" not in headers
    assert len(captured) == 101
    keys = [f.key for f in captured]
    assert all(key is not None and key != b"\x00\x00\x00\x00" for key in keys)
    assert len(set(keys)) == len(keys)
    assert [f.payload for f in captured[:100]] == [
        f"message {i}".encode() if i % 2 else b"\x00" * i for i in range(100)
    ]
    assert [f.opcode for f in captured[:4]] == [BINARY, TEXT, BINARY, TEXT]
    assert (captured[100].opcode, captured[100].payload) == (PING, b"are you there")


async def test_ping_interval_on_the_wire_and_pings_from_the_server(anyio_backend: str) -> None:
    seen: list[Any] = []

    async def serve_one(peer: RawClient) -> None:
        _, headers = await read_request(peer)
        # the first frames ride with the 101, in one read
        await peer.send(
            switching(headers["sec-websocket-key"])
            + frame(PING, b"srv", mask=False)
            + frame(TEXT, b"greeting", mask=False)
        )
        while len(seen) < 3:
            seen.append(await peer.frame())
        await peer.send(frame(CLOSE, close_payload(1000), mask=False))
        seen.append(await peer.frame())

    async with running_loop(anyio_backend):
        async with raw_server(serve_one) as port:
            client = AsyncTcpConnection(f"ws://127.0.0.1:{port}/")
            client.websocket.ping_interval = 0.05
            recorder = Recorder(client)
            client.connect()
        await until(lambda: "close" in recorder.events)
    assert all(f.key is not None for f in seen)
    assert [(f.opcode, f.payload) for f in seen] == [
        (PONG, b"srv"),
        (PING, b""),
        (PING, b""),
        (CLOSE, close_payload(1000)),
    ]
    assert recorder.events == [
        "tcp",
        ("open", 101),
        ("ping", b"srv"),
        "greeting",
        ("peer close", 1000, ""),
        "close",
    ]


@pytest.mark.parametrize(
    ("response", "why"),
    [
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            "Sec-WebSocket-Accept",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "200"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP response"),
        ("ACCEPT+PROTOCOL", "subprotocol"),
        ("ACCEPT+EXTENSION", "extension"),
    ],
)
async def test_a_bad_handshake_answer_fails_the_connect(
    anyio_backend: str, response: Any, why: str
) -> None:
    async def serve_one(peer: RawClient) -> None:
        _, headers = await read_request(peer)
        answer = response
        if answer == "ACCEPT+PROTOCOL":
            answer = switching(headers["sec-websocket-key"], "Sec-WebSocket-Protocol: other\r\n")
        elif answer == "ACCEPT+EXTENSION":
            answer = switching(headers["sec-websocket-key"], "Sec-WebSocket-Extensions: x-ext\r\n")
        await peer.send(answer + frame(TEXT, b"not delivered", mask=False))
        await peer.closed()

    async with running_loop(anyio_backend):
        async with raw_server(serve_one) as port:
            client = AsyncTcpConnection(f"ws://127.0.0.1:{port}/")
            recorder = Recorder(client)
            client.connect()
            client.send("queued")
            await until(lambda: "close" in recorder.events)
    errors = [e for e in recorder.events if isinstance(e, tuple) and e[0] == "error"]
    assert len(errors) == 1
    _, code, text = errors[0]
    assert code == CONNECT_FAIL
    assert why in text
    assert recorder.events == ["tcp", errors[0], "close"]
    assert not client.websocket.open


@pytest.mark.parametrize(
    ("address", "headers"),
    [("ws://127.0.0.1:1/", {"X-Bad": "a\r\nInjected: yes"}), ("ws://127.0.0.1:1/a b", {})],
)
async def test_a_bad_request_path_or_header_fails_the_connect(
    anyio_backend: str, address: str, headers: dict[str, str]
) -> None:
    received: list[bytes] = []

    async def serve_one(peer: RawClient) -> None:
        await peer.closed()
        received.append(peer.buffer)

    async with running_loop(anyio_backend):
        async with raw_server(serve_one) as port:
            client = AsyncTcpConnection(address.replace(":1/", f":{port}/"))
            client.websocket.headers = headers
            recorder = Recorder(client)
            client.connect()
            await until(lambda: "close" in recorder.events)
    errors = [e for e in recorder.events if isinstance(e, tuple) and e[0] == "error"]
    assert [code for _, code, _ in errors] == [CONNECT_FAIL]
    assert received == [b""]  # nothing was sent


async def test_a_masked_frame_from_the_server_closes_with_1002(anyio_backend: str) -> None:
    seen: list[Any] = []

    async def serve_one(peer: RawClient) -> None:
        _, headers = await read_request(peer)
        await peer.send(switching(headers["sec-websocket-key"]) + frame(TEXT, b"masked"))
        seen.extend(await peer.frames_until_eof())

    async with running_loop(anyio_backend):
        async with raw_server(serve_one) as port:
            client = AsyncTcpConnection(f"ws://127.0.0.1:{port}/")
            recorder = Recorder(client)
            client.connect()
            await until(lambda: "close" in recorder.events)
    assert [f.close[0] for f in seen] == [1002]
    assert all(f.key is not None for f in seen)  # still masked, as a client's must be
    assert recorder.messages() == []
    assert statistics.protocol_errors == 1


async def test_a_message_over_the_clients_limit_closes_with_1009(anyio_backend: str) -> None:
    seen: list[Any] = []

    async def serve_one(peer: RawClient) -> None:
        _, headers = await read_request(peer)
        await peer.send(
            switching(headers["sec-websocket-key"])
            + frame(BINARY, b"x" * 100, mask=False)
            + frame(BINARY, b"x" * 101, mask=False)
        )
        seen.extend(await peer.frames_until_eof())

    async with running_loop(anyio_backend):
        async with raw_server(serve_one) as port:
            client = AsyncTcpConnection(f"ws://127.0.0.1:{port}/")
            client.max_package_size = 100
            recorder = Recorder(client)
            client.connect()
            await until(lambda: "close" in recorder.events)
    assert [f.close[0] for f in seen] == [1009]
    assert recorder.messages() == [b"x" * 100]


async def test_a_close_without_a_code_from_the_server(anyio_backend: str) -> None:
    seen: list[Any] = []

    async def serve_one(peer: RawClient) -> None:
        _, headers = await read_request(peer)
        await peer.send(switching(headers["sec-websocket-key"]) + frame(CLOSE, mask=False))
        seen.extend(await peer.frames_until_eof())

    async with running_loop(anyio_backend):
        async with raw_server(serve_one) as port:
            client = AsyncTcpConnection(f"ws://127.0.0.1:{port}/")
            recorder = Recorder(client)
            client.connect()
            await until(lambda: "close" in recorder.events)
    assert [(f.close, f.key is not None) for f in seen] == [((1000, ""), True)]
    assert ("peer close", 1005, "") in recorder.events


async def test_the_websocket_property_is_for_websocket_connections(anyio_backend: str) -> None:
    async with running_loop(anyio_backend):
        plain = AsyncTcpConnection("tcp://127.0.0.1:1")
        with pytest.raises(AttributeError):
            plain.websocket  # noqa: B018
        ws = AsyncTcpConnection("ws://127.0.0.1:1/")
        assert isinstance(ws.websocket, WebSocketState)
        assert ws.websocket is ws.websocket
        assert not ws.websocket.open
        assert not ws.websocket.ping()


async def test_a_text_frame_split_across_reads_from_the_server(anyio_backend: str) -> None:
    async def serve_one(peer: RawClient) -> None:
        _, headers = await read_request(peer)
        data = switching(headers["sec-websocket-key"]) + frame(TEXT, "☃ snow".encode(), mask=False)
        for i in range(len(data)):
            await peer.send(data[i : i + 1])
            await anyio.sleep(0.001)
        await peer.closed()

    async with running_loop(anyio_backend):
        async with raw_server(serve_one) as port:
            client = AsyncTcpConnection(f"ws://127.0.0.1:{port}/")
            recorder = Recorder(client)
            client.connect()
            await until(lambda: "☃ snow" in recorder.events)
            client.close()
