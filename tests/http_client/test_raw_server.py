"""Malformed and misbehaving servers, scripted byte for byte on a raw socket, and the
stale-connection retry."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

from workerman.http_client import (
    ConnectTimeout,
    HttpClient,
    LimitError,
    Limits,
    NetworkError,
    ProtocolError,
    Timeout,
    WriteTimeout,
)

from .conftest import RawServer

pytestmark = pytest.mark.anyio

Start = Callable[..., RawServer]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def answer_each(data: bytes) -> Callable[[bytes, int], list[bytes | float | None]]:
    return lambda _request, _index: [data]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"HTTP/1.1 OK\r\n\r\n", "malformed status line"),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", "more bytes than its framing"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokay\r\n", "longer than"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nNo Colon Here\r\n\r\n", "malformed header"),
    ],
)
async def test_malformed_responses_are_protocol_errors(
    http: HttpClient, raw_server: Start, reply: bytes, message: str
) -> None:
    server = raw_server(answer_each(reply))
    with pytest.raises(ProtocolError, match=message):
        await http.get(server.url)
    assert http.stats() == {}  # the connection was dropped, not pooled


async def test_a_body_cut_short_is_a_protocol_error(http: HttpClient, raw_server: Start) -> None:
    server = raw_server(
        lambda _r, _i: [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", None]
    )
    with pytest.raises(ProtocolError, match="before the response body ended"):
        await http.get(server.url)


async def test_a_server_closing_without_answering(http: HttpClient, raw_server: Start) -> None:
    server = raw_server(lambda _r, _i: [None])
    with pytest.raises(NetworkError, match="without answering"):
        await http.get(server.url)


async def test_a_close_delimited_body_ends_with_the_connection(
    http: HttpClient, raw_server: Start
) -> None:
    server = raw_server(lambda _r, _i: [b"HTTP/1.1 200 OK\r\n\r\nuntil ", 0.05, b"the end", None])
    response = await http.get(server.url)
    assert response.content == b"until the end"


async def test_a_stale_pooled_connection_is_retried_once(
    http: HttpClient, raw_server: Start
) -> None:
    # each connection answers its first request and closes, unannounced, on the second
    seen: dict[int, int] = {}

    def script(_request: bytes, index: int) -> list[bytes | float | None]:
        seen[index] = seen.get(index, 0) + 1
        return [OK] if seen[index] == 1 else [None]

    server = raw_server(script)
    assert (await http.get(server.url)).content == b"ok"
    assert (await http.get(server.url)).content == b"ok"  # retried on a new connection
    assert server.connections == 2
    # a POST is not idempotent: the same failure surfaces
    with pytest.raises(NetworkError, match="reused connection"):
        await http.post(server.url, content=b"x")


async def test_retries_can_be_switched_off(loop: None, raw_server: Start) -> None:
    seen: dict[int, int] = {}

    def script(_request: bytes, index: int) -> list[bytes | float | None]:
        seen[index] = seen.get(index, 0) + 1
        return [OK] if seen[index] == 1 else [None]

    server = raw_server(script)
    async with HttpClient(retries=0) as http:
        await http.get(server.url)
        with pytest.raises(NetworkError):
            await http.get(server.url)


async def test_connection_close_is_honoured(http: HttpClient, raw_server: Start) -> None:
    server = raw_server(
        answer_each(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    )
    for _ in range(3):
        assert (await http.get(server.url)).content == b"ok"
    assert server.connections == 3


async def test_informational_responses_are_skipped(http: HttpClient, raw_server: Start) -> None:
    server = raw_server(answer_each(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK))
    response = await http.get(server.url)
    assert response.status_code == 200 and response.content == b"ok"


async def test_a_tls_server_that_never_answers_is_a_connect_timeout(
    loop: None, raw_server: Start
) -> None:
    server = raw_server(answer_each(OK))  # takes the TCP connection, never speaks TLS
    async with HttpClient(timeout=Timeout(connect=0.3)) as http:
        with pytest.raises(ConnectTimeout):
            await http.get(server.url.replace("http://", "https://"))
        assert http.stats() == {}


async def test_expect_continue_sends_the_body_after_100(loop: None, raw_server: Start) -> None:
    done = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"

    def script(request: bytes, _index: int) -> list[bytes | float | None]:
        if b"expect: 100-continue" in request.lower():
            return [b"HTTP/1.1 100 Continue\r\n\r\n", 0.2, done, None]
        return [done, None]

    server = raw_server(script)
    async with HttpClient(expect_continue=1000) as http:
        assert (await http.post(server.url, content=b"z" * 5000)).content == b"ok"
        assert (await http.post(server.url, content=b"small")).content == b"ok"  # no Expect
    assert b"expect: 100-continue" in server.requests[0].lower()
    assert b"expect" not in server.requests[1].lower()


async def test_a_refusal_before_100_means_the_body_is_never_sent(
    loop: None, raw_server: Start
) -> None:
    refusal = b"HTTP/1.1 413 Too Large\r\nContent-Length: 3\r\n\r\nbig"
    server = raw_server(lambda _r, _i: [refusal])
    async with HttpClient() as http:
        response = await http.post(
            server.url, content=b"y" * 100_000, headers={"Expect": "100-continue"}
        )
        assert response.status_code == 413
        assert http.stats() == {}  # the server may still wait for the body: closed


async def test_a_server_that_does_not_read_the_upload_is_a_write_timeout(
    loop: None, raw_server: Start
) -> None:
    server = raw_server(lambda _r, _i: [30.0])  # reads the head, then nothing more
    async with HttpClient(timeout=Timeout(write=0.3, read=5)) as http:
        with pytest.raises(WriteTimeout):
            await http.post(server.url, content=b"u" * (64 * 1024 * 1024 - 1024))

        async def endless():  # type: ignore[no-untyped-def]
            while True:
                yield b"s" * 65536

        with pytest.raises(WriteTimeout):
            await http.post(server.url, content=endless())
        assert http.stats() == {}


async def test_response_limits(loop: None, raw_server: Start) -> None:
    many = b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 150 + b"Content-Length: 0\r\n\r\n"
    huge = b"HTTP/1.1 200 OK\r\nX-Big: " + b"v" * 70_000 + b"\r\n\r\n"
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n" + b"b" * 2_000_000
    replies = {b"/many": many, b"/huge": huge, b"/body": body}
    server = raw_server(lambda request, _i: [replies[request.split(b" ")[1]]])
    async with HttpClient(limits=Limits(max_body_size=1_000_000)) as http:
        with pytest.raises(LimitError, match="header fields"):
            await http.get(f"{server.url}/many")
        with pytest.raises(LimitError, match="head over"):
            await http.get(f"{server.url}/huge")
        with pytest.raises(LimitError, match="body is over"):
            await http.get(f"{server.url}/body")
        async with http.stream("GET", f"{server.url}/body") as response:  # streams: no limit
            assert sum([len(c) async for c in response.iter_bytes()]) == 2_000_000


async def test_an_answer_before_the_streamed_body_ends_closes_the_connection(
    loop: None, raw_server: Start
) -> None:
    early = b"HTTP/1.1 413 Too Large\r\nContent-Length: 4\r\n\r\nnope"
    server = raw_server(lambda _r, _i: [early])
    async with HttpClient() as http:

        async def slow():  # type: ignore[no-untyped-def]
            for _ in range(1000):
                yield b"x" * 1000
                await anyio.sleep(0.01)

        response = await http.post(server.url, content=slow())
        assert response.status_code == 413 and response.content == b"nope"
        assert http.stats() == {}  # not reused: the rest of the body would follow


async def test_a_body_iterator_that_raises_fails_the_request(loop: None, raw_server: Start) -> None:
    server = raw_server(lambda _r, _i: [30.0])

    async def broken():  # type: ignore[no-untyped-def]
        yield b"first"
        raise ValueError("the body's source broke")

    async with HttpClient() as http:
        with pytest.raises(ValueError, match="source broke"):
            await http.post(server.url, content=broken())
        assert http.stats() == {}
