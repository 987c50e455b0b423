"""Flow between client and app: a client that goes away mid-stream, a client that does not
read (the app's sends wait), on both drivers, with raw sockets as the client."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from workerman.asgi import AsgiWorker, ClientDisconnected
from workerman.core import serve

pytestmark = pytest.mark.anyio


async def _connect(worker: AsgiWorker) -> anyio.abc.SocketStream:
    host, port = worker.listening[:2]
    return await anyio.connect_tcp(host, port)


async def test_client_gone_mid_stream_reaches_the_app_as_http_disconnect() -> None:
    seen: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()  # the (empty) body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        seen.append(await receive())  # waits until the client goes
        try:  # the client's FIN came; once the connection is gone, send raises
            for _ in range(500):
                await send({"type": "http.response.body", "body": b"late", "more_body": True})
                await anyio.sleep(0.01)
        except OSError as exc:
            seen.append(exc)

    worker = AsgiWorker(app, "http://127.0.0.1:0", lifespan="off")
    async with serve(worker):
        stream = await _connect(worker)
        await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        with anyio.fail_after(5):
            while b"first" not in data:
                data += await stream.receive()
        await stream.aclose()
        with anyio.fail_after(5):
            while len(seen) < 2:
                await anyio.sleep(0.01)
    assert seen[0] == {"type": "http.disconnect"}
    assert isinstance(seen[1], ClientDisconnected)


async def test_receive_after_the_response_is_http_disconnect() -> None:
    seen: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        seen.append(await receive())

    worker = AsgiWorker(app, "http://127.0.0.1:0", lifespan="off")
    async with serve(worker):
        async with await _connect(worker) as stream:
            await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with anyio.fail_after(5):
                assert (await stream.receive()).startswith(b"HTTP/1.1 204")
                while not seen:
                    await anyio.sleep(0.01)
    assert seen == [{"type": "http.disconnect"}]


async def test_a_client_that_does_not_read_pauses_the_apps_sends() -> None:
    piece = b"z" * 65536
    total = 400  # 25 MiB: far more than the send buffer and the kernel's together
    sent = [0]
    finished = anyio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(total):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            sent[0] += 1
        await send({"type": "http.response.body", "body": b""})
        finished.set()

    worker = AsgiWorker(app, "http://127.0.0.1:0", lifespan="off")
    async with serve(worker):
        async with await _connect(worker) as stream:
            await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with anyio.fail_after(10):
                while not any(c.writing_paused for c in worker.connections.values()):
                    await anyio.sleep(0.01)
            paused_at = sent[0]
            for _ in range(50):  # the loop goes round; the app stays where it is
                await anyio.sleep(0)
            assert sent[0] == paused_at < total
            received = 0
            with anyio.fail_after(20):
                while not finished.is_set() or received < total * len(piece):
                    received += len(await stream.receive(1 << 20)) if not finished.is_set() else 0
                    if finished.is_set():
                        break
    assert sent[0] == total
