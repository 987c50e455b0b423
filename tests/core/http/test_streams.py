"""Streamed responses: chunked transfer coding and server-sent events."""

from __future__ import annotations

import http.client
from typing import Any

import anyio
import pytest

from workerman.core import TcpConnection, Worker, current_loop
from workerman.core.http import Chunk, Request, Response, ServerSentEvents

from ..conftest import port_of, serving
from ._raw import exchange, need_tool, request

pytestmark = pytest.mark.anyio

CHUNKED = {"Transfer-Encoding": "chunked"}
EVENTS = {"Content-Type": "text/event-stream"}


def chunked_now(connection: TcpConnection, req: Request) -> None:
    connection.send(Response(200, CHUNKED, "first,"))
    connection.send(Chunk("second,"))
    connection.send(b"third")
    connection.send(Chunk())


def chunked_later(connection: TcpConnection, req: Request) -> None:
    """Sends the head now and a piece every 20 ms from a timer."""
    connection.send(Response(200, {**CHUNKED, "X-Path": req.path}))
    pieces = [Chunk(f"{req.path}:{i};") for i in range(3)] + [Chunk()]

    def next_piece() -> None:
        connection.send(pieces.pop(0))
        if pieces:
            current_loop().delay(0.02, next_piece)

    current_loop().delay(0.02, next_piece)


def http_worker(handler: Any) -> Worker:
    worker = Worker("http://127.0.0.1:0", name="streams")
    worker.on_message = handler
    return worker


async def test_a_chunked_response_is_framed_in_chunks(anyio_backend: str) -> None:
    worker = http_worker(chunked_now)
    async with serving(anyio_backend, worker):
        (reply,), closed = await exchange(port_of(worker), request())
    head, _, body = reply.raw.partition(b"\r\n\r\n")
    assert b"\r\nTransfer-Encoding: chunked\r\n" in head + b"\r\n"
    assert b"Content-Length" not in head
    assert body == b"6\r\nfirst,\r\n7\r\nsecond,\r\n5\r\nthird\r\n0\r\n\r\n"
    assert not closed


async def test_chunks_from_a_timer_keep_pipelined_responses_in_order(anyio_backend: str) -> None:
    def handler(connection: TcpConnection, req: Request) -> None:
        if req.path == "/plain":
            connection.send("plain")
        else:
            chunked_later(connection, req)

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        data = request("GET", "/a") + request("GET", "/plain") + request("GET", "/b")
        replies, closed = await exchange(port_of(worker), data, count=3)
    assert [r.body for r in replies] == [b"/a:0;/a:1;/a:2;", b"plain", b"/b:0;/b:1;/b:2;"]
    assert [r.header("x-path") for r in replies] == ["/a", None, "/b"]
    assert not closed


async def test_a_chunked_response_to_http_1_0_is_raw_and_ends_with_the_close(
    anyio_backend: str,
) -> None:
    worker = http_worker(chunked_now)
    async with serving(anyio_backend, worker):
        (reply,), closed = await exchange(
            port_of(worker), request("GET", "/", {"Connection": "keep-alive"}, version="1.0")
        )
    assert closed
    assert reply.header("transfer-encoding") is None
    assert reply.header("connection") == "close"
    assert reply.body == b"first,second,third"


async def test_head_of_a_chunked_response_sends_no_chunks(anyio_backend: str) -> None:
    worker = http_worker(chunked_now)
    async with serving(anyio_backend, worker):
        replies, _ = await exchange(
            port_of(worker), request("HEAD", "/") + request(), count=2, head=frozenset({0})
        )
    head, second = replies
    assert (head.status, head.header("transfer-encoding"), head.body) == (200, "chunked", b"")
    assert b"first" not in head.raw
    assert (second.status, second.body) == (200, b"first,second,third")


async def test_head_of_a_chunked_response_sent_from_a_timer(anyio_backend: str) -> None:
    worker = http_worker(chunked_later)
    async with serving(anyio_backend, worker):
        replies, _ = await exchange(
            port_of(worker),
            request("HEAD", "/h") + request("GET", "/g"),
            count=2,
            head=frozenset({0}),
        )
    assert [(r.status, r.body) for r in replies] == [(200, b""), (200, b"/g:0;/g:1;/g:2;")]


def read_chunked(port: int) -> tuple[int, str | None, list[bytes]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        pieces = []
        while piece := response.read1(100):
            pieces.append(piece)
        conn.request("GET", "/")  # the same connection serves another
        again = conn.getresponse().read()
        pieces.append(again)
        return response.status, response.getheader("transfer-encoding"), pieces
    finally:
        conn.close()


async def test_http_client_reads_a_chunked_response(anyio_backend: str) -> None:
    worker = http_worker(chunked_later)
    async with serving(anyio_backend, worker):
        status, coding, pieces = await anyio.to_thread.run_sync(read_chunked, port_of(worker))
    assert (status, coding) == (200, "chunked")
    assert b"".join(pieces[:-1]) == b"/:0;/:1;/:2;"
    assert pieces[-1] == b"/:0;/:1;/:2;"


async def test_curl_reads_a_chunked_response_as_it_comes(anyio_backend: str) -> None:
    curl = need_tool("curl")
    worker = http_worker(chunked_later)
    async with serving(anyio_backend, worker):
        result = await anyio.run_process(
            [curl, "-sSN", "--max-time", "5", f"http://127.0.0.1:{port_of(worker)}/c"]
        )
    assert result.stdout == b"/c:0;/c:1;/c:2;"


def event_stream(connection: TcpConnection, req: Request) -> None:
    connection.send(Response(200, EVENTS))
    events = [
        ServerSentEvents(comment="keep-alive"),
        ServerSentEvents("hello", event="greeting", id="1", retry=2000),
        ServerSentEvents({"data": "line one\nline two", "id": "2"}),
        "data: raw text\n\n",
    ]

    def next_event() -> None:
        if events:
            connection.send(events.pop(0))
            current_loop().delay(0.02, next_event)
        else:
            connection.close()

    next_event()


EVENT_BYTES = (
    b": keep-alive\n\n"
    b"event: greeting\nid: 1\nretry: 2000\ndata: hello\n\n"
    b"id: 2\ndata: line one\ndata: line two\n\n"
    b"data: raw text\n\n"
)


async def test_server_sent_events_stream_until_the_close(anyio_backend: str) -> None:
    worker = http_worker(event_stream)
    async with serving(anyio_backend, worker):
        (reply,), closed = await exchange(port_of(worker), request())
    assert closed
    assert reply.header("content-type") == "text/event-stream"
    assert reply.header("cache-control") == "no-cache"
    assert reply.header("content-length") is None
    assert reply.header("transfer-encoding") is None
    assert reply.body == EVENT_BYTES


def read_events(port: int) -> tuple[int, str | None, list[bytes]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/events")
        response = conn.getresponse()
        return response.status, response.getheader("content-type"), response.readlines()
    finally:
        conn.close()


async def test_http_client_reads_server_sent_events(anyio_backend: str) -> None:
    worker = http_worker(event_stream)
    async with serving(anyio_backend, worker):
        status, kind, lines = await anyio.to_thread.run_sync(read_events, port_of(worker))
    assert (status, kind) == (200, "text/event-stream")
    assert b"".join(lines) == EVENT_BYTES


async def test_curl_reads_server_sent_events(anyio_backend: str) -> None:
    curl = need_tool("curl")
    worker = http_worker(event_stream)
    async with serving(anyio_backend, worker):
        result = await anyio.run_process(
            [curl, "-sSN", "--max-time", "5", f"http://127.0.0.1:{port_of(worker)}/events"]
        )
    assert result.stdout == EVENT_BYTES


async def test_head_of_an_event_stream_sends_no_events_and_closes(anyio_backend: str) -> None:
    worker = http_worker(event_stream)
    async with serving(anyio_backend, worker):
        (reply,), closed = await exchange(
            port_of(worker), request("HEAD", "/") + request(), head=frozenset({0})
        )
    assert closed
    assert reply.header("connection") == "close"
    assert reply.header("content-type") == "text/event-stream"
    assert reply.body == b""
    assert b"data:" not in reply.raw


async def test_a_handler_error_mid_stream_closes_without_a_second_head(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(connection: TcpConnection, req: Request) -> None:
        connection.send(Response(200, CHUNKED))
        connection.send(Chunk("partial"))
        raise RuntimeError("mid-stream")

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            await client.send(request())
            received = b""
            with anyio.fail_after(5):
                while True:
                    try:
                        received += await client.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        break
    assert received.count(b"HTTP/1.1") == 1
    assert received.endswith(b"7\r\npartial\r\n")  # no last chunk: the client sees it cut
    assert "mid-stream" in caplog.text


async def test_a_chunk_outside_a_chunked_response_is_a_type_error(anyio_backend: str) -> None:
    errors: list[Exception] = []

    def handler(connection: TcpConnection, req: Request) -> None:
        try:
            connection.send(Chunk("x"))
        except TypeError as exc:
            errors.append(exc)
        connection.send("fine")

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        (reply,), _ = await exchange(port_of(worker), request())
    assert reply.body == b"fine"
    assert len(errors) == 1


async def test_events_over_a_chunked_response_are_framed_as_chunks(anyio_backend: str) -> None:
    def handler(connection: TcpConnection, req: Request) -> None:
        connection.send(Response(200, {**EVENTS, **CHUNKED}))
        connection.send(ServerSentEvents("one"))
        connection.send("data: two\n\n")
        connection.send(Chunk())

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        replies, closed = await exchange(port_of(worker), request() + request(), count=2)
    assert [r.body for r in replies] == [b"data: one\n\ndata: two\n\n"] * 2
    assert not closed


async def test_an_empty_chunk_ends_an_event_stream_with_a_close(anyio_backend: str) -> None:
    def handler(connection: TcpConnection, req: Request) -> None:
        connection.send(Response(200, EVENTS))
        connection.send(ServerSentEvents("only"))
        connection.send(Chunk(b"data: raw\n\n"))
        connection.send(Chunk())

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        (reply,), closed = await exchange(port_of(worker), request() + request())
    assert closed
    assert reply.body == b"data: only\n\ndata: raw\n\n"
