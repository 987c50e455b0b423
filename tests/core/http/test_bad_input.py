"""Bad input, byte for byte: each gets its status, a close, a count, and harms no one else."""

from __future__ import annotations

import logging
from typing import ClassVar

import anyio
import pytest

from workerman.core import Worker, statistics
from workerman.core.http import Http, Request

from ..conftest import port_of, serving
from ._raw import exchange, request

pytestmark = pytest.mark.anyio

HOST = b"Host: x\r\n"
BIG_HEAD = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (16 * 1024) + b"\r\n\r\n"

CASES = {
    "header block over 16 KiB": (BIG_HEAD, 431),
    "header block over 16 KiB, unfinished": (BIG_HEAD[:-4] + b"\r\nX-More: 1", 431),
    "malformed request line": (b"GET /\r\n" + HOST + b"\r\n", 400),
    "request line with extra spaces": (b"GET  / HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    "request line with a trailing word": (b"GET / HTTP/1.1 x\r\n" + HOST + b"\r\n", 400),
    "binary garbage": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    "invalid header name": (b"GET / HTTP/1.1\r\n" + HOST + b"Bad Name: 1\r\n\r\n", 400),
    "header name with a slash": (b"GET / HTTP/1.1\r\n" + HOST + b"a/b: 1\r\n\r\n", 400),
    "space before the colon": (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    "header line without a colon": (b"GET / HTTP/1.1\r\n" + HOST + b"nocolon\r\n\r\n", 400),
    "control character in a value": (b"GET / HTTP/1.1\r\n" + HOST + b"X: a\x01b\r\n\r\n", 400),
    "obsolete line folding": (b"GET / HTTP/1.1\r\n" + HOST + b"X: a\r\n b\r\n\r\n", 400),
    "missing Host on 1.1": (b"GET / HTTP/1.1\r\nX: 1\r\n\r\n", 400),
    "two Host headers": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "Content-Length and Transfer-Encoding": (
        b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    "Content-Length not a number": (
        b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 3a\r\n\r\n",
        400,
    ),
    "negative Content-Length": (b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: -1\r\n\r\n", 400),
    "two different Content-Lengths": (
        b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    ),
    "chunk size not hex": (
        b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
        400,
    ),
    "negative chunk size": (
        b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n-1\r\n\r\n",
        400,
    ),
    "empty chunk size": (
        b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n\r\nab\r\n",
        400,
    ),
    "chunk size too big for any body": (
        b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
        400,
    ),
    "chunk data longer than its size": (
        b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    "chunk size line that never ends": (
        b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n" + b"0" * 2000,
        400,
    ),
    "Transfer-Encoding in HTTP/1.0": (
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "unknown transfer coding": (
        b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    ),
    "HTTP/2.0 request line": (b"GET / HTTP/2.0\r\n" + HOST + b"\r\n", 505),
    "unknown expectation": (b"GET / HTTP/1.1\r\n" + HOST + b"Expect: teapot\r\n\r\n", 417),
}


def ok_worker() -> Worker:
    worker = Worker("http://127.0.0.1:0", name="web")
    worker.on_message = lambda connection, req: connection.send("ok")
    return worker


@pytest.mark.parametrize("data, status", list(CASES.values()), ids=list(CASES))
async def test_bad_input_gets_its_status_and_a_close(
    anyio_backend: str, data: bytes, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="workerman.core")
    handled: list[Request] = []
    worker = ok_worker()
    worker.on_message = lambda connection, req: (handled.append(req), connection.send("ok"))
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        async with await anyio.connect_tcp("127.0.0.1", port) as bystander:
            await bystander.send(request("GET", "/before"))
            with anyio.fail_after(5):
                assert (await bystander.receive()).endswith(b"ok")
            # the bad request, then a good one on the same connection that must be ignored
            (reply,), closed = await exchange(port, data + request("GET", "/after"))
            await bystander.send(request("GET", "/still"))
            with anyio.fail_after(5):
                assert (await bystander.receive()).endswith(b"ok")
    assert reply.status == status
    assert reply.header("connection") == "close"
    assert reply.header("content-length") == str(len(reply.body))
    assert closed
    assert [r.path for r in handled] == ["/before", "/still"]
    assert statistics.protocol_errors == 1
    assert f"HTTP {status}" in caplog.text


async def test_a_body_over_max_package_size_is_a_413(anyio_backend: str) -> None:
    worker = ok_worker()
    worker.on_connect = lambda connection: setattr(connection, "max_package_size", 1000)
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n"
        (reply,), closed = await exchange(port, head)
        chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        (chunked_reply,), chunked_closed = await exchange(
            port, chunked, b"200\r\n" + b"a" * 512 + b"\r\n", b"200\r\n" + b"a" * 512, pause=0.02
        )
        (fits,), fits_closed = await exchange(port, request("POST", "/", body=b"b" * 900))
    assert (reply.status, closed) == (413, True)
    assert (chunked_reply.status, chunked_closed) == (413, True)
    assert (fits.status, fits_closed) == (200, False)
    assert statistics.protocol_errors == 2


async def test_a_body_near_the_limit_arriving_in_pieces_is_served(anyio_backend: str) -> None:
    """Head and body together within max_package_size, sent in several reads."""
    worker = ok_worker()
    worker.on_message = lambda connection, req: connection.send(str(len(req.raw_body)))
    worker.on_connect = lambda connection: setattr(connection, "max_package_size", 4096)
    data = request("POST", "/", body=b"z" * 4000)
    chunked = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"64\r\n" + b"y" * 100 + b"\r\n" for _ in range(37))
        + b"0\r\n\r\n"
    )
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        plain, plain_closed = await exchange(
            port, data[:100], data[100:2000], data[2000:], pause=0.02
        )
        pieces = [chunked[i : i + 700] for i in range(0, len(chunked), 700)]
        dechunked, chunked_closed = await exchange(port, *pieces, pause=0.02)
    assert [(r.status, r.body) for r in plain] == [(200, b"4000")]
    assert [(r.status, r.body) for r in dechunked] == [(200, b"3700")]
    assert not plain_closed and not chunked_closed


async def test_a_too_large_body_is_refused_before_100_continue(anyio_backend: str) -> None:
    worker = ok_worker()
    worker.on_connect = lambda connection: setattr(connection, "max_package_size", 100)
    head = request("PUT", "/", {"Content-Length": "5000", "Expect": "100-continue"})
    async with serving(anyio_backend, worker):
        replies, closed = await exchange(port_of(worker), head)
    assert [r.status for r in replies] == [413]
    assert closed


class QuickHttp(Http):
    header_timeout: ClassVar[float] = 0.3


async def test_a_head_that_never_ends_is_a_408_after_the_header_timeout(
    anyio_backend: str,
) -> None:
    worker = Worker("http://127.0.0.1:0", protocol=QuickHttp)
    worker.on_message = lambda connection, req: connection.send("ok")
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        started = anyio.current_time()
        (reply,), closed = await exchange(
            port, b"GET / HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n", pause=0.1
        )
        elapsed = anyio.current_time() - started
    assert (reply.status, reply.header("connection"), closed) == (408, "close", True)
    assert 0.25 < elapsed < 2
    assert statistics.timeouts == 1


async def test_the_header_timeout_spares_idle_keep_alive_and_slow_bodies(
    anyio_backend: str,
) -> None:
    worker = Worker("http://127.0.0.1:0", protocol=QuickHttp)
    worker.on_message = lambda connection, req: connection.send(req.raw_body or b"ok")
    post = request("POST", "/", body=b"abc")
    async with serving(anyio_backend, worker):
        replies, closed = await exchange(
            port_of(worker),
            request(),  # answered, then the connection idles past the timeout
            post[:-2],  # a whole head, and a body that takes longer than the timeout
            post[-2:],
            pause=0.5,
            count=2,
        )
    assert [r.body for r in replies] == [b"ok", b"abc"]
    assert not closed
    assert statistics.protocol_errors == 0


async def test_the_header_timeout_counts_from_the_first_byte(anyio_backend: str) -> None:
    """A client trickling a head byte by byte cannot hold the connection forever."""
    worker = Worker("http://127.0.0.1:0", protocol=QuickHttp)
    worker.on_message = lambda connection, req: connection.send("ok")
    trickle = [bytes([b]) for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: abcdefghijklmnop"]
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            received = b""
            with anyio.fail_after(3):
                for byte in trickle:  # one byte every 50 ms, until the server answers
                    await client.send(byte)
                    with anyio.move_on_after(0.05):
                        received += await client.receive()
                    if received:
                        break
                with pytest.raises(anyio.EndOfStream):
                    while True:
                        received += await client.receive()
    assert received.startswith(b"HTTP/1.1 408 ")


async def test_the_header_size_limit_is_a_setting(anyio_backend: str) -> None:
    class SmallHeads(Http):
        max_header_size: ClassVar[int] = 200

    worker = Worker("http://127.0.0.1:0", protocol=SmallHeads)
    worker.on_message = lambda connection, req: connection.send("ok")
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        (small,), _ = await exchange(port, request("GET", "/", {"X": "a" * 100}))
        (big,), closed = await exchange(port, request("GET", "/", {"X": "a" * 200}))
    assert small.status == 200
    assert (big.status, closed) == (431, True)


async def test_a_request_over_the_limit_with_its_head_is_a_413_not_a_bare_close(
    anyio_backend: str,
) -> None:
    """max_package_size caps the whole request, as Workerman's does: a body that fits
    alone but not with its head is refused with a 413 (from the head alone, before the
    body is sent), never by a close without an answer."""
    worker = ok_worker()
    worker.on_connect = lambda connection: setattr(connection, "max_package_size", 1000)
    data = request("POST", "/", body=b"c" * 1000)
    chunked = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"64\r\n" + b"y" * 100 + b"\r\n" for _ in range(10))
        + b"0\r\n\r\n"
    )
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        replies, closed = await exchange(port, data[: data.index(b"\r\n\r\n") + 4])
        chunked_replies, chunked_closed = await exchange(
            port, chunked[:500], chunked[500:], pause=0.05
        )
    assert [r.status for r in replies] == [413]
    assert [r.status for r in chunked_replies] == [413]
    assert closed and chunked_closed


def _upload_over_the_limit(port: int, body_size: int) -> tuple[bytes, bool]:
    """Send a head and a large body in one go, as a browser uploads a file without
    Expect: 100-continue, and read whatever answer arrives."""
    import socket
    import threading

    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % body_size
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:

        def send_all() -> None:
            try:
                sock.sendall(head + b"u" * body_size)
            except OSError:
                pass  # a server that closed at once resets us here

        sender = threading.Thread(target=send_all)
        sender.start()
        answer = b""
        reset = False
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            reset = True
        sender.join()
    return answer, reset


async def test_a_client_still_sending_its_body_reads_the_413(anyio_backend: str) -> None:
    """The server answers 413 from the head, then keeps reading (and dropping) the body
    it refused until the client is done, so the client sees the answer, not a reset."""
    worker = ok_worker()
    worker.on_connect = lambda connection: setattr(connection, "max_package_size", 64 * 1024)
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        answer, reset = await anyio.to_thread.run_sync(_upload_over_the_limit, port, 8 << 20)
        # the connection ends cleanly once the client has sent everything and stopped
        await anyio.sleep(0.1)
    assert not reset
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer
    assert statistics.protocol_errors == 1


async def test_lingering_ends_after_linger_timeout(anyio_backend: str) -> None:
    """A client that keeps its side open after the answer is closed after the timeout."""

    class ShortLinger(Http):
        linger_timeout = 0.2

    worker = Worker("tcp://127.0.0.1:0", protocol=ShortLinger)
    worker.on_message = lambda connection, request: connection.send("ok")
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as stream:
            await stream.send(b"GET / HTTP/1.1\r\n\r\n")  # no Host: 400
            answer = b""
            with anyio.fail_after(3):
                while b"\r\n\r\n" not in answer:
                    answer += await stream.receive()
                with pytest.raises(anyio.EndOfStream):
                    while True:
                        await stream.receive()  # our FIN: EOF for the client
            assert answer.startswith(b"HTTP/1.1 400 ")
            await stream.send(b"more bytes are dropped")
            with anyio.fail_after(3):
                while worker.connections:
                    await anyio.sleep(0.02)
