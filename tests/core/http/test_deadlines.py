"""Hostile clients against the deadlines of an HTTP connection: bodies that trickle or
stop, chunked bodies that never end or are made of too many chunks, and clients that do
not read what they asked for. Each gets its outcome in time, and a good client is served
meanwhile."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import ClassVar

import anyio
import pytest

from workerman.core import ConnectionStatus, TcpConnection, Worker, statistics
from workerman.core.http import Http

from ..conftest import port_of, read_to_close, serving, wait_for
from ._raw import read_replies, request, split_replies

pytestmark = pytest.mark.anyio

BODY_TIMEOUT = 0.4


class QuickBodies(Http):
    body_timeout: ClassVar[float] = BODY_TIMEOUT
    min_body_rate: ClassVar[float] = 100.0  # 40 bytes per period


def echo_worker() -> Worker:
    worker = Worker("http://127.0.0.1:0", protocol=QuickBodies)
    worker.on_message = lambda connection, req: connection.send(req.raw_body or b"ok")
    return worker


async def good_client_is_served(port: int) -> None:
    with anyio.fail_after(5):
        stream = await anyio.connect_tcp("127.0.0.1", port)
        await stream.send(request("POST", "/", body=b"fine"))
        (reply,) = await read_replies(stream)
        await stream.aclose()
    assert reply.body == b"fine"


async def trickle(stream: anyio.abc.SocketStream, data: bytes, gap: float) -> None:
    """Send ``data`` a byte at a time, ``gap`` seconds apart, until the server hangs up."""
    for byte in data:
        try:
            await stream.send(bytes([byte]))
        except (anyio.BrokenResourceError, OSError):
            return
        await anyio.sleep(gap)


async def test_a_body_that_trickles_is_a_408_and_others_are_served(anyio_backend: str) -> None:
    worker = echo_worker()
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        stream = await anyio.connect_tcp("127.0.0.1", port)
        # a whole head promising 1000 bytes, then one byte every 50 ms: 8 per period
        await stream.send(request("POST", "/", {"Content-Length": "1000"}))
        async with anyio.create_task_group() as tg:
            tg.start_soon(trickle, stream, b"x" * 1000, 0.05)
            await good_client_is_served(port)
            got = await read_to_close(stream, 5)
            tg.cancel_scope.cancel()
        await stream.aclose()
    (reply,), _ = split_replies(got)
    assert reply.status == 408
    assert statistics.timeouts == 1


async def test_a_body_that_stops_is_a_408_within_two_periods(anyio_backend: str) -> None:
    worker = echo_worker()
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        started = anyio.current_time()
        await stream.send(request("POST", "/", {"Content-Length": "100"}) + b"half")
        got = await read_to_close(stream, 5)
        elapsed = anyio.current_time() - started
        await stream.aclose()
    (reply,), _ = split_replies(got)
    assert reply.status == 408
    assert BODY_TIMEOUT * 0.9 < elapsed < BODY_TIMEOUT * 2 + 1


async def test_a_chunked_body_without_its_final_crlf_is_a_408(anyio_backend: str) -> None:
    worker = echo_worker()
    head = request("POST", "/", {"Transfer-Encoding": "chunked"})
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await stream.send(head + b"3\r\nabc\r\n0\r\n")  # the last chunk, but no blank line
        got = await read_to_close(stream, 5)
        await stream.aclose()
    (reply,), _ = split_replies(got)
    assert reply.status == 408


async def test_a_body_at_a_fair_rate_spans_many_periods(anyio_backend: str) -> None:
    worker = echo_worker()
    body = bytes(range(256)) * 4  # 1 KiB at 100 bytes per 50 ms: 2.5 periods
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await stream.send(request("POST", "/", {"Content-Length": str(len(body))}))
        for at in range(0, len(body), 100):
            await stream.send(body[at : at + 100])
            await anyio.sleep(0.05)
        (reply,) = await read_replies(stream)
        await stream.aclose()
    assert reply.body == body
    assert statistics.timeouts == 0


async def test_a_body_of_too_many_chunks_is_a_413(anyio_backend: str) -> None:
    class FewChunks(QuickBodies):
        max_chunks: ClassVar[int] = 50

    worker = Worker("http://127.0.0.1:0", protocol=FewChunks)
    worker.on_message = lambda connection, req: connection.send(req.raw_body)
    head = request("POST", "/", {"Transfer-Encoding": "chunked"})
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        for count, status in ((50, 200), (51, 413)):
            stream = await anyio.connect_tcp("127.0.0.1", port)
            await stream.send(head + b"1\r\nx\r\n" * count + b"0\r\n\r\n")
            (reply,) = await read_replies(stream)
            await stream.aclose()
            assert reply.status == status


# -- clients that do not read -----------------------------------------------------------


@pytest.fixture
def quick_send_timeout(monkeypatch: pytest.MonkeyPatch) -> Iterator[float]:
    monkeypatch.setattr(TcpConnection, "send_timeout", 0.4)
    yield 0.4


def non_reader(port: int, head: bytes) -> socket.socket:
    """A client with a small receive buffer that asks, then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(head)
    return sock


async def test_a_client_that_does_not_read_a_big_answer_is_dropped(
    anyio_backend: str, quick_send_timeout: float
) -> None:
    big = b"x" * (8 * 1024 * 1024)  # far more than the kernel's buffers hold
    worker = Worker("http://127.0.0.1:0")
    worker.on_message = lambda connection, req: connection.send(
        big if req.path == "/big" else req.raw_body
    )
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        sock = non_reader(port, request("GET", "/big"))
        try:
            await wait_for(lambda: statistics.timeouts == 1)
            await wait_for(lambda: not worker.connections)
            await good_client_is_served(port)
        finally:
            sock.close()


async def test_a_close_waiting_on_a_client_that_does_not_read_has_a_deadline(
    anyio_backend: str, quick_send_timeout: float
) -> None:
    """Less than the send buffer is queued (so sending never paused), more than the
    kernel takes, and the close waits for it to leave: the peer must still take it in time."""
    closer = Worker("text://127.0.0.1:0")
    closer.on_connect = lambda connection: setattr(
        connection, "max_send_buffer_size", 64 * 1024 * 1024
    )
    closer.on_message = lambda connection, line: connection.close("y" * (16 * 1024 * 1024))
    async with serving(anyio_backend, closer):
        sock = non_reader(port_of(closer), b"bye\n")
        try:
            await wait_for(lambda: statistics.timeouts == 1)
            await wait_for(lambda: not closer.connections)
        finally:
            sock.close()


async def test_a_slow_reader_that_keeps_taking_is_not_dropped(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a deadline well past any pause of a loaded machine, which the whole transfer (64 KiB
    # every 50 ms, beyond what the kernel buffers) outlasts: each bit taken earns a period
    monkeypatch.setattr(TcpConnection, "send_timeout", 1.0)
    size = 4 * 1024 * 1024
    worker = Worker("text://127.0.0.1:0")
    worker.on_message = lambda connection, line: connection.send("z" * size)
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await stream.send(b"go\n")
        got = 0
        with anyio.fail_after(20):
            while got < size + 1:
                got += len(await stream.receive(65536))
                await anyio.sleep(0.05)  # ~1.3 MB/s at most: slower than the server sends
        await stream.aclose()
    assert statistics.timeouts == 0


async def test_a_chunked_body_arriving_chunk_by_chunk_decodes_whole(anyio_backend: str) -> None:
    """Past a few KiB, the decoded part of an incomplete chunked body is no longer kept
    with its rest (which made a body of small chunks cost quadratic time)."""
    worker = echo_worker()
    chunks = [bytes([65 + n % 26]) * (700 + n) for n in range(120)]
    head = request("POST", "/", {"Transfer-Encoding": "chunked"})
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await stream.send(head)
        for chunk in chunks:
            line = b"%x\r\n%s\r\n" % (len(chunk), chunk)
            await stream.send(line[:3])  # split inside the size line and inside the data
            await anyio.sleep(0.001)
            await stream.send(line[3:])
            await anyio.sleep(0.001)
        await stream.send(b"0\r\nX-Trailer: 1\r\n\r\n")
        (reply,) = await read_replies(stream)
        await stream.aclose()
    assert reply.body == b"".join(chunks)


async def test_a_keep_alive_connection_closes_after_max_keepalive_requests(
    anyio_backend: str,
) -> None:
    class ThreePerConnection(Http):
        max_keepalive_requests: ClassVar[int] = 3

    worker = Worker("http://127.0.0.1:0", protocol=ThreePerConnection)
    worker.on_message = lambda connection, req: connection.send("ok")
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await stream.send(request() * 4)  # the fourth is not answered on this connection
        got = await read_to_close(stream, 5)
        await stream.aclose()
    replies, rest = split_replies(got)
    assert [r.header("connection") for r in replies] == [None, None, "close"]
    assert rest == b""


async def test_a_broadcast_drops_the_client_that_does_not_read_and_serves_the_rest(
    anyio_backend: str, quick_send_timeout: float
) -> None:
    """A push server sends 64 KiB to every client every 10 ms: the one that reads
    nothing fills its buffer (sends to it are refused, not queued without end) and is
    dropped at the send deadline; a reading client gets every push meanwhile."""
    push = b"z" * (64 * 1024 - 1)
    pusher = Worker("text://127.0.0.1:0")
    refused: list[int] = []
    sent = [0]

    def broadcast() -> None:
        sent[0] += 1
        for connection in list(pusher.connections.values()):
            # (a connection just dropped is refused too, but that is not a full buffer)
            open_ = connection.status is ConnectionStatus.ESTABLISHED
            if connection.send(push.decode()) is False and open_:
                refused.append(connection.id)

    async with serving(anyio_backend, pusher) as loop:
        port = port_of(pusher)
        sock = non_reader(port, b"")
        await wait_for(lambda: len(pusher.connections) == 1)
        (silent,) = pusher.connections
        reader = await anyio.connect_tcp("127.0.0.1", port)
        await wait_for(lambda: len(pusher.connections) == 2)
        timer = loop.repeat(0.01, broadcast)
        try:
            got = 0
            with anyio.fail_after(10):
                while statistics.timeouts == 0 or got < 100 * len(push):
                    got += len(await reader.receive(1 << 20))
            await wait_for(lambda: len(pusher.connections) == 1)
        finally:
            loop.cancel(timer)
            sock.close()
            await reader.aclose()
    assert refused and statistics.timeouts == 1
    assert statistics.send_fail >= len(refused)  # (and a push queued when a client went)
    assert set(refused) == {silent}
