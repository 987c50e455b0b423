"""A Response body from an iterator is streamed a piece at a time as the client reads:
chunked, bare under a given Content-Length, close-delimited for HTTP/1.0; the iterator is
closed when the response ends however it ends."""

from __future__ import annotations

import http.client
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from workerman.core import Worker
from workerman.core.http import Response

from ..conftest import port_of, read_to_close, serving, wait_for
from ._raw import read_replies, request

pytestmark = pytest.mark.anyio

PIECE = b"p" * 65536


class Source:
    """A generator of ``count`` pieces that records how far it was taken and whether it
    was closed."""

    def __init__(self, count: int, fail_at: int = -1) -> None:
        self.count = count
        self.fail_at = fail_at
        self.taken = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for n in range(self.count):
                if n == self.fail_at:
                    raise RuntimeError("the source broke")
                self.taken += 1
                yield PIECE if n % 2 else "s" * 1000  # type: ignore[misc]
        finally:
            self.closed = True


def expected(count: int) -> bytes:
    return b"".join(PIECE if n % 2 else b"s" * 1000 for n in range(count))


def source_worker(sources: list[Source], count: int = 40, **response: Any) -> Worker:
    worker = Worker("http://127.0.0.1:0")

    def on_message(connection: Any, req: Any) -> None:
        source = Source(count, **response)
        sources.append(source)
        headers = {"Content-Length": req.header("x-length")} if req.header("x-length") else {}
        connection.send(Response(200, headers, iter(source)))

    worker.on_message = on_message
    return worker


def get(port: int, method: str = "GET", headers: dict[str, str] | None = None) -> Any:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    client.request(method, "/", headers=headers or {})
    response = client.getresponse()
    body = response.read()
    client.close()
    return response, body


async def test_a_generator_body_goes_chunked_to_http_client(anyio_backend: str) -> None:
    sources: list[Source] = []
    worker = source_worker(sources)
    async with serving(anyio_backend, worker):
        response, body = await anyio.to_thread.run_sync(get, port_of(worker))
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert body == expected(40)
    assert sources[0].closed


async def test_a_given_content_length_sends_the_pieces_bare(anyio_backend: str) -> None:
    sources: list[Source] = []
    worker = source_worker(sources, count=5)
    size = len(expected(5))
    async with serving(anyio_backend, worker):
        response, body = await anyio.to_thread.run_sync(
            lambda: get(port_of(worker), headers={"X-Length": str(size)})
        )
        # a length that the pieces do not meet cuts the response: a close, not a lie
        with pytest.raises(http.client.IncompleteRead):
            await anyio.to_thread.run_sync(
                lambda: get(port_of(worker), headers={"X-Length": str(size + 1)})
            )
    assert response.getheader("Content-Length") == str(size)
    assert response.getheader("Transfer-Encoding") is None
    assert body == expected(5)


async def test_http_1_0_gets_the_body_up_to_the_close(anyio_backend: str) -> None:
    worker = source_worker([], count=6)
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await stream.send(b"GET / HTTP/1.0\r\n\r\n")
        got = await read_to_close(stream, 10)
        await stream.aclose()
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"Connection: close" in head and b"chunked" not in head
    assert body == expected(6)


async def test_head_takes_nothing_from_the_source(anyio_backend: str) -> None:
    sources: list[Source] = []
    worker = source_worker(sources)
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await stream.send(request("HEAD", "/") + request("GET", "/"))
        first, second = await read_replies(stream, 2, head=frozenset({0}))
        await stream.aclose()
    assert first.header("transfer-encoding") == "chunked" and first.body == b""
    assert second.body == expected(40)
    assert sources[0].taken == 0  # (the generator never began, so it has nothing to close)


async def test_a_source_that_raises_cuts_the_response_and_is_logged(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    sources: list[Source] = []
    worker = source_worker(sources, fail_at=3)
    async with serving(anyio_backend, worker):
        with pytest.raises(http.client.IncompleteRead):
            await anyio.to_thread.run_sync(get, port_of(worker))
    assert "response body iterator" in caplog.text and "the source broke" in caplog.text


async def test_a_client_that_does_not_read_pauses_the_source(anyio_backend: str) -> None:
    """50 MiB offered, the client reads nothing: the source is taken only as far as the
    send buffer and the kernel hold; once the client goes, the source is closed."""
    sources: list[Source] = []
    worker = source_worker(sources, count=800)
    async with serving(anyio_backend, worker):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port_of(worker)))
        sock.sendall(request("GET", "/"))
        await wait_for(
            lambda: sources and any(c.writing_paused for c in worker.connections.values())
        )
        taken = sources[0].taken
        await anyio.sleep(0.2)  # nothing is read meanwhile: nothing more is taken
        assert sources[0].taken == taken < 200  # at most ~6 MiB of the 50
        sock.close()
        await wait_for(lambda: sources[0].closed)


def test_bodies_that_cannot_be_streamed_are_refused_clearly() -> None:
    async def pieces() -> AsyncIterator[bytes]:
        yield b"x"

    with pytest.raises(TypeError, match="async iterable"):
        Response(200, body=pieces())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not int"):
        Response(200, body=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not dict"):
        Response(200, body={"a": 1})  # type: ignore[arg-type]
    assert Response(200, body=bytearray(b"ab")).body == b"ab"
