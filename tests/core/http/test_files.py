"""File responses: whole, ranges, conditional requests, and streaming with backpressure."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import anyio
import pytest

from workerman.core import TcpConnection, Worker, current_loop
from workerman.core.http import Request, Response

from ..conftest import port_of, serving
from ._raw import exchange, request

pytestmark = pytest.mark.anyio

CONTENT = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "page.bin"
    path.write_bytes(CONTENT)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    return path


def file_worker(path: Path, **extra: Any) -> Worker:
    worker = Worker("http://127.0.0.1:0", name="files")

    def handler(connection: TcpConnection, req: Request) -> None:
        if req.path == "/missing":
            connection.send(Response().with_file(path.parent / "nope.txt"))
        elif req.path == "/dir":
            connection.send(Response().with_file(path.parent))
        elif req.path == "/slice":
            connection.send(Response().with_file(path, 100, 50))
        elif req.path == "/tail":
            connection.send(Response().with_file(path, 10000))
        else:
            connection.send(Response(headers=extra).with_file(path))

    worker.on_message = handler
    return worker


async def test_a_whole_file_with_its_type_length_and_dates(anyio_backend: str, page: Path) -> None:
    worker = file_worker(page)
    async with serving(anyio_backend, worker):
        (reply,), closed = await exchange(port_of(worker), request("GET", "/file"))
    assert reply.status == 200
    assert reply.body == CONTENT
    assert reply.header("content-length") == str(len(CONTENT))
    assert reply.header("content-type") == "application/octet-stream"
    assert reply.header("accept-ranges") == "bytes"
    assert reply.header("last-modified") == formatdate(1_700_000_000, usegmt=True)
    assert not closed


async def test_the_content_type_is_guessed_from_the_name_unless_set(
    anyio_backend: str, tmp_path: Path
) -> None:
    css = tmp_path / "style.css"
    css.write_text("body{}")
    worker = file_worker(css)
    typed = file_worker(css, **{"Content-Type": "text/x-mine"})
    async with serving(anyio_backend, worker, typed):
        (guessed,), _ = await exchange(port_of(worker), request())
        (given,), _ = await exchange(port_of(typed), request())
    assert guessed.header("content-type") == "text/css; charset=utf-8"
    assert given.all("content-type") == ["text/x-mine"]
    assert guessed.body == given.body == b"body{}"


@pytest.mark.parametrize(
    "spec, first, last",
    [
        ("bytes=10-19", 10, 19),  # single
        ("bytes=-100", 10140, 10239),  # suffix
        ("bytes=10200-", 10200, 10239),  # open-ended
        ("bytes=10200-99999", 10200, 10239),  # past the end: cut to it
        ("bytes=-99999", 0, 10239),  # a suffix longer than the file
        ("bytes=0-0", 0, 0),
    ],
)
async def test_a_range_is_a_206_with_that_part(
    anyio_backend: str, page: Path, spec: str, first: int, last: int
) -> None:
    worker = file_worker(page)
    async with serving(anyio_backend, worker):
        (reply,), _ = await exchange(port_of(worker), request("GET", "/", {"Range": spec}))
    assert (reply.status, reply.reason) == (206, "Partial Content")
    assert reply.header("content-range") == f"bytes {first}-{last}/{len(CONTENT)}"
    assert reply.header("content-length") == str(last - first + 1)
    assert reply.body == CONTENT[first : last + 1]


@pytest.mark.parametrize("spec", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
async def test_a_range_past_the_end_is_a_416(anyio_backend: str, page: Path, spec: str) -> None:
    worker = file_worker(page)
    async with serving(anyio_backend, worker):
        replies, closed = await exchange(
            port_of(worker), request("GET", "/", {"Range": spec}) + request(), count=2
        )
    assert [(r.status, r.header("content-range")) for r in replies] == [
        (416, f"bytes */{len(CONTENT)}"),
        (200, None),
    ]
    assert replies[0].body == b""
    assert replies[1].body == CONTENT
    assert not closed


@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "items=0-5", "bytes=5-2", "bytes=x-"])
async def test_a_range_the_server_does_not_serve_is_ignored(
    anyio_backend: str, page: Path, spec: str
) -> None:
    worker = file_worker(page)
    async with serving(anyio_backend, worker):
        (reply,), _ = await exchange(port_of(worker), request("GET", "/", {"Range": spec}))
    assert (reply.status, reply.body) == (200, CONTENT)


async def test_if_range_with_an_old_date_sends_the_whole_file(
    anyio_backend: str, page: Path
) -> None:
    worker = file_worker(page)
    current = formatdate(1_700_000_000, usegmt=True)
    old = formatdate(1_600_000_000, usegmt=True)
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        (fresh,), _ = await exchange(
            port, request("GET", "/", {"Range": "bytes=0-9", "If-Range": current})
        )
        (stale,), _ = await exchange(
            port, request("GET", "/", {"Range": "bytes=0-9", "If-Range": old})
        )
    assert (fresh.status, fresh.body) == (206, CONTENT[:10])
    assert (stale.status, stale.body) == (200, CONTENT)


async def test_if_modified_since_gives_304_for_an_unchanged_file(
    anyio_backend: str, page: Path
) -> None:
    worker = file_worker(page)
    since_same = formatdate(1_700_000_000, usegmt=True)
    since_before = formatdate(1_699_999_000, usegmt=True)
    async with serving(anyio_backend, worker):
        data = (
            request("GET", "/", {"If-Modified-Since": since_same})
            + request("GET", "/", {"If-Modified-Since": since_before})
            + request("GET", "/", {"If-Modified-Since": "not a date"})
        )
        replies, closed = await exchange(port_of(worker), data, count=3)
    assert [(r.status, len(r.body)) for r in replies] == [
        (304, 0),
        (200, len(CONTENT)),
        (200, len(CONTENT)),
    ]
    assert replies[0].header("content-length") is None
    assert replies[0].header("last-modified") == since_same
    assert not closed


async def test_a_missing_file_or_a_directory_is_a_404(anyio_backend: str, page: Path) -> None:
    worker = file_worker(page)
    async with serving(anyio_backend, worker):
        data = request("GET", "/missing") + request("GET", "/dir") + request()
        replies, closed = await exchange(port_of(worker), data, count=3)
    assert [r.status for r in replies] == [404, 404, 200]
    assert not closed


async def test_an_offset_and_length_send_that_slice(anyio_backend: str, page: Path) -> None:
    worker = file_worker(page)
    async with serving(anyio_backend, worker):
        data = request("GET", "/slice") + request("GET", "/tail")
        replies, _ = await exchange(port_of(worker), data, count=2)
    assert [r.body for r in replies] == [CONTENT[100:150], CONTENT[10000:]]
    assert [r.header("content-length") for r in replies] == ["50", "240"]


async def test_head_of_a_file_sends_its_length_only(anyio_backend: str, page: Path) -> None:
    worker = file_worker(page)
    async with serving(anyio_backend, worker):
        data = request("HEAD", "/") + request("GET", "/slice")
        replies, closed = await exchange(port_of(worker), data, count=2, head=frozenset({0}))
    assert [(r.status, r.header("content-length"), r.body) for r in replies] == [
        (200, str(len(CONTENT)), b""),
        (200, "50", CONTENT[100:150]),
    ]
    assert not closed


async def test_an_empty_file_is_a_200_with_length_0(anyio_backend: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    worker = file_worker(empty)
    async with serving(anyio_backend, worker):
        replies, _ = await exchange(port_of(worker), request() + request(), count=2)
    assert [(r.status, r.header("content-length"), r.body) for r in replies] == [
        (200, "0", b""),
        (200, "0", b""),
    ]


async def test_pipelined_file_responses_keep_their_order(
    anyio_backend: str, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(300_000))
    worker = file_worker(big)
    async with serving(anyio_backend, worker):
        data = request("GET", "/") + request("GET", "/slice") + request("GET", "/")
        replies, _ = await exchange(port_of(worker), data, count=3)
    assert [r.body for r in replies] == [
        big.read_bytes(),
        big.read_bytes()[100:150],
        big.read_bytes(),
    ]


def slow_download(port: int, path: str, pause: float) -> tuple[bytes, bytes]:
    """GET ``path`` over a socket with a small receive buffer, reading 64 KiB at a time
    with a pause between reads: a client slower than the server."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
        sock.sendall(request("GET", path, {"Connection": "close"}))
        received = bytearray()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            data = sock.recv(64 * 1024)
            if not data:
                break
            received += data
            time.sleep(pause)
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    return head, body


async def test_a_large_file_streams_with_backpressure_to_a_slow_reader(
    anyio_backend: str, tmp_path: Path
) -> None:
    content = os.urandom(10 * 1024 * 1024)
    large = tmp_path / "large.bin"
    large.write_bytes(content)
    limit = 16 * 1024
    samples: list[int] = []
    full_events: list[int] = []
    worker = file_worker(large)

    def on_connect(connection: TcpConnection) -> None:
        connection.max_send_buffer_size = limit
        timer = current_loop().repeat(0.002, lambda: samples.append(connection.send_buffer_size))
        connection.on_close = lambda _c: current_loop().cancel(timer)

    worker.on_connect = on_connect
    worker.on_buffer_full = lambda connection: full_events.append(connection.send_buffer_size)
    async with serving(anyio_backend, worker):
        head, body = await anyio.to_thread.run_sync(slow_download, port_of(worker), "/", 0.0005)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"Content-Length: {len(content)}".encode() in head
    assert hashlib.md5(body).hexdigest() == hashlib.md5(content).hexdigest()
    assert full_events, "the reader was never slower than the server: no backpressure seen"
    assert len(samples) > 20
    assert max(samples) < 2 * limit, f"up to {max(samples)} bytes queued"


def fetch_all(port: int, paths: list[str]) -> list[tuple[int, bytes]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        results = []
        for path in paths:
            conn.request("GET", path)
            response = conn.getresponse()
            results.append((response.status, response.read()))
        return results
    finally:
        conn.close()


async def test_http_client_downloads_files_on_one_connection(
    anyio_backend: str, tmp_path: Path
) -> None:
    content = os.urandom(1_000_000)
    large = tmp_path / "medium.bin"
    large.write_bytes(content)
    worker = file_worker(large)
    connections: list[int] = []
    worker.on_connect = lambda connection: connections.append(connection.id)
    async with serving(anyio_backend, worker):
        results = await anyio.to_thread.run_sync(fetch_all, port_of(worker), ["/", "/slice", "/"])
    assert results == [(200, content), (200, content[100:150]), (200, content)]
    assert len(connections) == 1


async def test_a_client_that_leaves_mid_file_frees_the_stream(
    anyio_backend: str, tmp_path: Path
) -> None:
    large = tmp_path / "large.bin"
    large.write_bytes(os.urandom(4 * 1024 * 1024))
    worker = file_worker(large)
    closed: list[int] = []
    worker.on_connect = lambda connection: setattr(connection, "max_send_buffer_size", 65536)
    worker.on_close = lambda connection: closed.append(connection.id)
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            await client.send(request())
            with anyio.fail_after(5):
                await client.receive()
        with anyio.fail_after(5):
            while not closed:
                await anyio.sleep(0.01)
        assert worker.connections == {}
