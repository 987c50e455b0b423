"""The HTTP server over real sockets: requests, responses, keep-alive, pipelining, errors."""

from __future__ import annotations

import json
import socket
import struct
from typing import Any
from urllib.parse import unquote

import anyio
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from workerman.core import Timer, Worker, current_loop, statistics
from workerman.core.http import Request, RequestError, Response
from workerman.core.http._head import Head, analyse
from workerman.core.http._request import request_of

from ..conftest import port_of, serving
from ._raw import exchange, request, split_replies

pytestmark = pytest.mark.anyio


def http_worker(handler: Any) -> Worker:
    worker = Worker("http://127.0.0.1:0", name="web")
    worker.on_message = handler
    return worker


def echo_target(connection: Any, req: Request) -> None:
    connection.send(f"{req.method} {req.uri}")


async def test_a_str_reply_is_a_200_with_length_and_keep_alive(anyio_backend: str) -> None:
    worker = http_worker(lambda connection, req: connection.send("hello"))
    async with serving(anyio_backend, worker):
        replies, closed = await exchange(port_of(worker), request())
    assert not closed
    (reply,) = replies
    assert (reply.version, reply.status, reply.reason) == ("HTTP/1.1", 200, "OK")
    assert reply.header("content-length") == "5"
    assert reply.header("content-type") == "text/html;charset=utf-8"
    assert reply.header("server") == "workerman"
    assert reply.header("date") is not None
    assert reply.header("connection") is None
    assert reply.body == b"hello"


async def test_a_bytes_reply_is_sent_as_is(anyio_backend: str) -> None:
    worker = http_worker(lambda connection, req: connection.send(b"\x00\xffbin"))
    async with serving(anyio_backend, worker):
        (reply,), _ = await exchange(port_of(worker), request())
    assert reply.body == b"\x00\xffbin"
    assert reply.header("content-length") == "5"


async def test_the_request_line_and_headers_reach_the_handler(anyio_backend: str) -> None:
    seen: dict[str, Any] = {}

    def handler(connection: Any, req: Request) -> None:
        seen.update(
            method=req.method,
            uri=req.uri,
            path=req.path,
            query_string=req.query_string,
            a=req.get("a"),
            missing=req.get("missing", "dflt"),
            all_get=req.get(),
            multi=req.get_list("m"),
            header=req.header("X-Custom"),
            header_default=req.header("x-absent", "none"),
            headers=dict(req.headers),
            host=req.host,
            version=req.protocol_version,
            raw_head=req.raw_head,
            raw_body=req.raw_body,
            remote_ip=req.remote_ip,
            remote_port=req.remote_port,
            remote_address=req.remote_address,
            cookie=req.cookie("sid"),
            cookies=req.cookie(),
            cookie_default=req.cookie("nope", "x"),
        )
        connection.send("ok")

    head = request(
        "GET",
        "/some%20path/x?a=1&m=2&m=3&e=%C3%A9",
        {"X-Custom": "  value ", "Cookie": 'sid=abc; theme="dark"'},
    )
    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            local_port = client.extra(anyio.abc.SocketAttribute.local_port)
            await client.send(head)
            with anyio.fail_after(5):
                assert (await client.receive()).startswith(b"HTTP/1.1 200 OK\r\n")
    assert seen["method"] == "GET"
    assert seen["uri"] == "/some%20path/x?a=1&m=2&m=3&e=%C3%A9"
    assert seen["path"] == "/some path/x"
    assert seen["query_string"] == "a=1&m=2&m=3&e=%C3%A9"
    assert (seen["a"], seen["missing"]) == ("1", "dflt")
    assert seen["all_get"] == {"a": "1", "m": "2", "e": "é"}
    assert seen["multi"] == ["2", "3"]
    assert (seen["header"], seen["header_default"]) == ("value", "none")
    assert seen["headers"] == {
        "host": "localhost",
        "x-custom": "value",
        "cookie": seen["headers"]["cookie"],
    }
    assert seen["host"] == "localhost"
    assert seen["version"] == "1.1"
    assert seen["raw_head"] == head[: head.index(b"\r\n\r\n")]
    assert seen["raw_body"] == b""
    assert seen["remote_ip"] == "127.0.0.1"
    assert seen["remote_port"] == local_port
    assert seen["remote_address"] == f"127.0.0.1:{local_port}"
    assert (seen["cookie"], seen["cookie_default"]) == ("abc", "x")
    assert seen["cookies"] == {"sid": "abc", "theme": "dark"}


async def test_nothing_is_parsed_that_the_handler_does_not_ask_for(anyio_backend: str) -> None:
    kept: list[Request] = []

    def handler(connection: Any, req: Request) -> None:
        kept.append(req)
        connection.send(req.method)

    body = b"a=1&b=2"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": "a=b"}
    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        await exchange(port_of(worker), request("POST", "/?q=1", headers, body))
    (req,) = kept
    assert (req._headers, req._query, req._post, req._files, req._cookies, req._session) == (
        (None,) * 6
    )
    assert req.post("b") == "2"  # and all of it is still there when asked later
    assert req._headers is not None


def _path_as_before(target: str) -> str:
    """Request.path as it was computed before it was kept with the head."""
    if target[0] != "/":
        _, sep, rest = target.partition("://")
        target = "/" + rest.partition("/")[2] if sep else target
    path = target.partition("?")[0].partition("#")[0]
    if not path.isascii():
        path = path.encode("latin-1").decode("utf-8", "replace")
    return unquote(path) if "%" in path else path


@given(st.text(alphabet=st.sampled_from("/?#%:ab9é\x80\xff"), min_size=1, max_size=24))
@example("http://host/p%20q?x#y")
@example("*")
def test_path_reads_a_target_as_it_always_did(target: str) -> None:
    head = b"GET " + target.encode("latin-1", "replace") + b" HTTP/1.1\r\nHost: x"
    by_hand = Request("conn", head, b"", "GET", target, "1.1", True)
    assert by_hand.path == _path_as_before(target)
    info = Head("GET", target, "1.1", True, 0, False, False)  # as a head with it reads
    first, second = (request_of("conn", head, b"", info) for _ in range(2))
    assert first.path == second.path == _path_as_before(target)


def test_a_path_is_worked_out_once_per_head_and_follows_a_changed_uri() -> None:
    head = b"GET /a%20b/c?q=1#f HTTP/1.1\r\nHost: x"
    info = analyse(head)
    first = request_of("conn", head, b"", info)
    assert info.path is None  # not until a request asks
    assert first.path == "/a b/c" and info.path == "/a b/c"
    second = request_of("conn", head, b"", info)
    assert second.path is info.path  # the head's, not worked out again
    second.uri = "/other%21"  # a handler (or middleware) rewrites the target
    assert second.path == "/other!" and info.path == "/a b/c" and first.path == "/a b/c"
    by_hand = Request("conn", head, b"", "GET", "/x%2Fy?z", "1.1", True)
    assert by_hand.path == "/x/y"


def test_request_of_makes_the_request_the_constructor_makes() -> None:
    # (the pure build's request_of sets the fields itself, without calling __init__)
    head = b"POST /p?q=1 HTTP/1.0\r\nHost: x\r\nContent-Length: 2\r\nConnection: keep-alive"
    info = analyse(head)
    made = request_of("conn", head, b"ok", info)
    built = Request("conn", head, b"ok", info.method, info.uri, info.version, info.keep_alive)
    assert type(made) is Request
    fields = ["connection", "_head", "_body", "method", "uri", "protocol_version", "keep_alive"]
    if hasattr(Request, "__slots__"):  # (pure Python: every field the class has is set)
        assert sorted(fields) == sorted(set(Request.__slots__) - {"__dict__", "_info"})
    assert made._info is info and built._info is None  # (what the exchange read, or nothing)
    assert [getattr(made, name) for name in fields] == [getattr(built, name) for name in fields]
    assert (made.method, made.uri, made.protocol_version, made.keep_alive) == (
        "POST",
        "/p?q=1",
        "1.0",
        True,
    )
    assert made.headers == built.headers and made.get("q") == "1" and made.raw_body == b"ok"


async def test_urlencoded_json_and_multipart_bodies_reach_post(anyio_backend: str) -> None:
    seen: list[Any] = []

    def handler(connection: Any, req: Request) -> None:
        upload = req.file("doc")
        seen.append(
            (
                req.post(),
                req.post("a"),
                req.post("missing", 7),
                None if upload is None else (upload.filename, upload.read(), upload.size),
            )
        )
        connection.send("ok")

    multipart = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="a"\r\n\r\n'
        b"one\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="doc"; filename="n.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
        b"file\r\nbytes\r\n"
        b"--XyZ--\r\n"
    )
    requests = (
        request("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=x+y&b=%26")
        + request("POST", "/", {"Content-Type": "application/json"}, b'{"a": [1, 2], "b": null}')
        + request("POST", "/", {"Content-Type": "multipart/form-data; boundary=XyZ"}, multipart)
    )
    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        replies, _ = await exchange(port_of(worker), requests, count=3)
    assert [r.status for r in replies] == [200, 200, 200]
    assert seen == [
        ({"a": "x y", "b": "&"}, "x y", 7, None),
        ({"a": [1, 2], "b": None}, [1, 2], 7, None),
        ({"a": "one"}, "one", 7, ("n.txt", b"file\r\nbytes", 11)),
    ]


async def test_a_chunked_request_body_is_decoded(anyio_backend: str) -> None:
    bodies: list[bytes] = []

    def handler(connection: Any, req: Request) -> None:
        bodies.append(req.raw_body)
        connection.send(str(len(req.raw_body)))

    chunked = (
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        replies, closed = await exchange(
            port_of(worker),
            chunked[:70],
            chunked[70:75],
            chunked[75:],
            request(),
            pause=0.02,
            count=2,
        )
    assert [r.body for r in replies] == [b"12", b"0"]
    assert bodies == [b"hello world!", b""]
    assert not closed


async def test_response_status_reason_headers_and_cookies(anyio_backend: str) -> None:
    def handler(connection: Any, req: Request) -> None:
        response = Response(201, {"X-One": "1", "X-Gone": "bye"}, "made")
        response.with_status(418, "Short And Stout")
        response.header("x-two", "2").with_header("X-List", ["a", "b"]).without_header("x-gone")
        response.with_headers({"Content-Type": "text/plain"})
        response.cookie(
            "full",
            "v1",
            max_age=60,
            path="/app",
            domain="example.com",
            secure=True,
            http_only=True,
            same_site="None",
            partitioned=True,
        )
        response.cookie("plain", "v2")
        connection.send(response)

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        (reply,), _ = await exchange(port_of(worker), request())
    assert (reply.status, reply.reason) == (418, "Short And Stout")
    assert reply.header("x-one") == "1"
    assert reply.header("x-two") == "2"
    assert reply.all("x-list") == ["a", "b"]
    assert reply.header("x-gone") is None
    assert reply.all("content-type") == ["text/plain"]
    full, plain = reply.all("set-cookie")
    attributes = full.split("; ")
    assert attributes[0] == "full=v1"
    assert "Max-Age=60" in attributes
    assert any(a.startswith("Expires=") and a.endswith(" GMT") for a in attributes)
    assert {"Path=/app", "Domain=example.com", "Secure", "HttpOnly", "SameSite=None"} <= set(
        attributes
    )
    assert "Partitioned" in attributes
    assert plain == "plain=v2"
    assert reply.body == b"made"


async def test_a_standard_status_gets_its_reason_and_204_304_no_length(anyio_backend: str) -> None:
    statuses = iter([404, 204, 304, 302])

    def handler(connection: Any, req: Request) -> None:
        status = next(statuses)
        connection.send(Response(status, {"Location": "/x"} if status == 302 else None))

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        replies, _ = await exchange(port_of(worker), request() * 4, count=4)
    assert [(r.status, r.reason) for r in replies] == [
        (404, "Not Found"),
        (204, "No Content"),
        (304, "Not Modified"),
        (302, "Found"),
    ]
    assert [r.header("content-length") for r in replies] == ["0", None, None, "0"]


# -- keep-alive and pipelining ---------------------------------------------------------


async def test_three_pipelined_requests_get_answers_in_order_sync(anyio_backend: str) -> None:
    worker = http_worker(echo_target)
    async with serving(anyio_backend, worker):
        data = request("GET", "/1") + request("POST", "/2", body=b"xx") + request("GET", "/3")
        replies, closed = await exchange(port_of(worker), data, count=3)
    assert [r.body for r in replies] == [b"GET /1", b"POST /2", b"GET /3"]
    assert not closed
    assert statistics.total_request == 3


async def test_pipelined_async_handlers_answer_in_order(anyio_backend: str) -> None:
    order: list[str] = []

    async def handler(connection: Any, req: Request) -> None:
        order.append("start " + req.path)
        await anyio.sleep({"/1": 0.2, "/2": 0.05, "/3": 0.0}[req.path])
        order.append("end " + req.path)
        connection.send(req.path)

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        data = request("GET", "/1") + request("GET", "/2") + request("GET", "/3")
        replies, _ = await exchange(port_of(worker), data, count=3)
    assert [r.body for r in replies] == [b"/1", b"/2", b"/3"]
    assert order == ["start /1", "end /1", "start /2", "end /2", "start /3", "end /3"]


async def test_an_answer_from_a_timer_keeps_pipelined_answers_in_order(anyio_backend: str) -> None:
    def handler(connection: Any, req: Request) -> None:
        if req.path == "/1":
            Timer.add(0.15, lambda: connection.send("late /1"), persistent=False)
        elif req.path == "/2":
            current_loop().delay(0.05, connection.send, Response(202, body="later /2"))
        else:
            connection.send("now /3")

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        data = request("GET", "/1") + request("GET", "/2") + request("GET", "/3")
        replies, closed = await exchange(port_of(worker), data, count=3)
    assert [(r.status, r.body) for r in replies] == [
        (200, b"late /1"),
        (202, b"later /2"),
        (200, b"now /3"),
    ]
    assert not closed


async def test_an_async_handler_that_answers_after_returning(anyio_backend: str) -> None:
    async def handler(connection: Any, req: Request) -> None:
        if req.path == "/1":
            current_loop().delay(0.1, connection.send, "from timer")
        else:
            connection.send("direct")

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        replies, _ = await exchange(port_of(worker), request("GET", "/1") + request(), count=2)
    assert [r.body for r in replies] == [b"from timer", b"direct"]


async def test_keep_alive_serves_requests_one_after_another(anyio_backend: str) -> None:
    connections: set[int] = set()

    def handler(connection: Any, req: Request) -> None:
        connections.add(connection.id)
        connection.send(req.path)

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            for i in range(5):
                await client.send(request("GET", f"/{i}"))
                with anyio.fail_after(5):
                    data = await client.receive()
                assert data.endswith(f"\r\n\r\n/{i}".encode())
    assert len(connections) == 1


async def test_http_1_0_closes_unless_keep_alive_is_asked(anyio_backend: str) -> None:
    worker = http_worker(echo_target)
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        plain, plain_closed = await exchange(port, request("GET", "/a", version="1.0"))
        kept, kept_closed = await exchange(
            port,
            request("GET", "/b", {"Connection": "keep-alive"}, version="1.0")
            + request("GET", "/c", {"Connection": "Keep-Alive"}, version="1.0"),
            count=2,
        )
    assert plain_closed
    (reply,) = plain
    assert (reply.version, reply.header("connection"), reply.body) == (
        "HTTP/1.0",
        "close",
        b"GET /a",
    )
    assert not kept_closed
    assert [(r.version, r.header("connection"), r.body) for r in kept] == [
        ("HTTP/1.0", "keep-alive", b"GET /b"),
        ("HTTP/1.0", "keep-alive", b"GET /c"),
    ]


async def test_http_1_0_needs_no_host(anyio_backend: str) -> None:
    worker = http_worker(echo_target)
    async with serving(anyio_backend, worker):
        (reply,), closed = await exchange(port_of(worker), b"GET /x HTTP/1.0\r\n\r\n")
    assert (reply.status, reply.body, closed) == (200, b"GET /x", True)


async def test_connection_close_is_honoured_and_later_requests_ignored(anyio_backend: str) -> None:
    worker = http_worker(echo_target)
    async with serving(anyio_backend, worker):
        data = request("GET", "/1", {"Connection": "close"}) + request("GET", "/2")
        replies, closed = await exchange(port_of(worker), data, count=1)
    assert closed
    assert [(r.body, r.header("connection")) for r in replies] == [(b"GET /1", "close")]
    assert statistics.total_request == 1


async def test_a_response_with_connection_close_closes(anyio_backend: str) -> None:
    def handler(connection: Any, req: Request) -> None:
        connection.send(Response(200, {"Connection": "close"}, "bye"))

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        replies, closed = await exchange(port_of(worker), request() + request(), count=1)
    assert closed
    assert [r.body for r in replies] == [b"bye"]


async def test_expect_100_continue_comes_before_the_body_is_sent(anyio_backend: str) -> None:
    def handler(connection: Any, req: Request) -> None:
        connection.send(b"got " + req.raw_body)

    worker = http_worker(handler)
    head = request("PUT", "/", {"Content-Length": "5", "Expect": "100-continue"})
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            await client.send(head)
            with anyio.fail_after(5):
                interim = await client.receive()
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            await client.send(b"hello")
            received = b""
            with anyio.fail_after(5):
                while not received.endswith(b"got hello"):
                    received += await client.receive()
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_expect_100_continue_with_the_body_at_once_has_no_interim(
    anyio_backend: str,
) -> None:
    worker = http_worker(lambda connection, req: connection.send(req.raw_body))
    data = request("PUT", "/", {"Expect": "100-continue"}, b"hello")
    async with serving(anyio_backend, worker):
        replies, _ = await exchange(port_of(worker), data)
    assert [(r.status, r.body) for r in replies] == [(200, b"hello")]


async def test_head_has_the_length_of_the_body_it_does_not_send(anyio_backend: str) -> None:
    def handler(connection: Any, req: Request) -> None:
        if req.path == "/resp":
            connection.send(Response(200, {"X-A": "1"}, "twelve bytes"))
        else:
            connection.send("twelve bytes")

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        data = request("HEAD", "/str") + request("HEAD", "/resp") + request("GET", "/str")
        replies, closed = await exchange(port_of(worker), data, count=3, head=frozenset({0, 1}))
    assert [(r.status, r.header("content-length"), r.body) for r in replies] == [
        (200, "12", b""),
        (200, "12", b""),
        (200, "12", b"twelve bytes"),
    ]
    assert replies[1].header("x-a") == "1"
    assert not closed


async def test_a_handler_exception_is_a_500_and_a_close(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(connection: Any, req: Request) -> None:
        raise ValueError("boom")

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        (reply,), closed = await exchange(port_of(worker), request() + request())
    assert (reply.status, reply.header("connection"), closed) == (500, "close", True)
    assert b"boom" not in reply.raw  # no internals leak to the client
    assert "boom" in caplog.text


async def test_an_async_handler_exception_is_a_500(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(connection: Any, req: Request) -> None:
        await anyio.sleep(0.01)
        raise KeyError("async boom")

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        (reply,), closed = await exchange(port_of(worker), request())
    assert (reply.status, closed) == (500, True)
    assert "async boom" in caplog.text


async def test_a_request_error_from_a_handler_answers_its_status(anyio_backend: str) -> None:
    async def async_handler(connection: Any, req: Request) -> None:
        raise RequestError(409, "taken")

    def handler(connection: Any, req: Request) -> Any:
        if req.path == "/async":
            return async_handler(connection, req)
        raise RequestError(403, "not yours")

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        (sync_reply,), sync_closed = await exchange(port, request("GET", "/sync"))
        (async_reply,), async_closed = await exchange(port, request("GET", "/async"))
    assert (sync_reply.status, sync_reply.reason, sync_reply.body) == (
        403,
        "Forbidden",
        b"not yours",
    )
    assert (async_reply.status, async_reply.body) == (409, b"taken")
    assert sync_closed and async_closed


async def test_a_malformed_body_asked_for_by_the_handler_is_a_400(anyio_backend: str) -> None:
    def handler(connection: Any, req: Request) -> None:
        connection.send(json.dumps(req.post()))

    worker = http_worker(handler)
    data = request("POST", "/", {"Content-Type": "multipart/form-data; boundary=b"}, b"junk")
    async with serving(anyio_backend, worker):
        (reply,), closed = await exchange(port_of(worker), data)
    assert (reply.status, closed) == (400, True)


async def test_no_handler_is_a_404(anyio_backend: str) -> None:
    worker = Worker("http://127.0.0.1:0")
    async with serving(anyio_backend, worker):
        (reply,), _ = await exchange(port_of(worker), request())
    assert reply.status == 404


async def test_sending_outside_a_request_is_an_error(anyio_backend: str) -> None:
    errors: list[BaseException] = []

    def handler(connection: Any, req: Request) -> None:
        connection.send("first")
        try:
            connection.send("second")
        except RuntimeError as exc:
            errors.append(exc)

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        replies, closed = await exchange(port_of(worker), request() + request(), count=2)
    assert [r.body for r in replies] == [b"first", b"first"]
    assert len(errors) == 2
    assert not closed


async def test_empty_lines_between_requests_are_skipped(anyio_backend: str) -> None:
    """Some clients send a CRLF after a body; it may come in a read of its own."""
    worker = http_worker(echo_target)
    async with serving(anyio_backend, worker):
        replies, closed = await exchange(
            port_of(worker),
            request("POST", "/1", body=b"x"),
            b"\r\n",
            b"\r\n\r\n" + request("GET", "/2"),
            pause=0.05,
            count=2,
        )
    assert [r.body for r in replies] == [b"POST /1", b"GET /2"]
    assert not closed
    assert statistics.protocol_errors == 0


async def reset(client: anyio.abc.SocketStream) -> None:
    """Close with a reset (SO_LINGER 0): the server learns at once that the client is gone."""
    sock = client.extra(anyio.abc.SocketAttribute.raw_socket)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await client.aclose()


async def test_on_close_fires_when_the_client_resets_during_an_async_handler(
    anyio_backend: str,
) -> None:
    closed: list[int] = []
    sent: list[object] = []
    handled: list[str] = []

    async def handler(connection: Any, req: Request) -> None:
        handled.append(req.path)
        await anyio.sleep(0.2)
        sent.append(connection.send("too late"))  # the client is gone: refused

    worker = http_worker(handler)
    worker.on_close = lambda connection: closed.append(connection.id)
    async with serving(anyio_backend, worker):
        client = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await client.send(request("GET", "/1") + request("GET", "/2"))
        await anyio.sleep(0.05)
        await reset(client)
        with anyio.fail_after(5):
            while not (closed and sent):
                await anyio.sleep(0.01)
        await anyio.sleep(0.05)
        assert worker.connections == {}
    # asyncio reads nothing while a handler runs, so it learns of the reset only from the
    # first answer's write (queued, not refused), and may hand it /2 before that, whose
    # answer is refused; trio reads on and sees it before the first answer
    assert len(sent) == len(handled)
    if anyio_backend == "trio" or len(handled) > 1:
        assert sent[-1] is False
    assert handled == ["/1"] if anyio_backend == "trio" else handled[0] == "/1"
    assert len(closed) == 1


async def test_on_close_fires_when_the_client_resets_before_a_timer_answer(
    anyio_backend: str,
) -> None:
    closed: list[int] = []
    answered: list[object] = []

    def handler(connection: Any, req: Request) -> None:
        Timer.add(0.2, lambda: answered.append(connection.send("late")), persistent=False)

    worker = http_worker(handler)
    worker.on_close = lambda connection: closed.append(connection.id)
    async with serving(anyio_backend, worker):
        client = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await client.send(request() + request())
        await anyio.sleep(0.05)
        await reset(client)
        with anyio.fail_after(5):
            while not (closed and answered):
                await anyio.sleep(0.01)
    assert len(answered) == 1  # refused, or (asyncio) written before the reset is seen
    assert len(closed) == 1


async def test_a_client_that_half_closes_still_gets_its_answers(anyio_backend: str) -> None:
    closed: list[int] = []

    async def handler(connection: Any, req: Request) -> None:
        await anyio.sleep(0.05)
        connection.send(req.path)

    worker = http_worker(handler)
    worker.on_close = lambda connection: closed.append(connection.id)
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            await client.send(request("GET", "/1") + request("GET", "/2"))
            await client.send_eof()
            received = b""
            with anyio.fail_after(5):
                while True:
                    try:
                        received += await client.receive()
                    except anyio.EndOfStream:
                        break
        with anyio.fail_after(5):
            while not closed:
                await anyio.sleep(0.01)
    replies, rest = split_replies(received)
    assert [r.body for r in replies] == [b"/1", b"/2"]
    assert rest == b""


async def test_pipelined_answers_wait_for_a_slow_reader_instead_of_being_dropped(
    anyio_backend: str,
) -> None:
    """Answers bigger than the send buffer, to a client that pipelines and reads late:
    the server reads no more requests while its answers are not taken, loses none."""
    errors: list[str] = []

    def handler(connection: Any, req: Request) -> None:
        connection.send(req.path.encode() * 40_000)

    worker = http_worker(handler)
    worker.on_connect = lambda connection: setattr(connection, "max_send_buffer_size", 256 * 1024)
    worker.on_error = lambda connection, code, message: errors.append(message)
    paths = [f"/{i:02}" for i in range(20)]
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            await client.send(b"".join(request("GET", path) for path in paths))
            await anyio.sleep(0.3)  # the server fills its buffer meanwhile
            received = b""
            with anyio.fail_after(10):
                while len(split_replies(received)[0]) < len(paths):
                    received += await client.receive()
    replies, rest = split_replies(received)
    assert rest == b""
    assert [r.body[:3].decode() for r in replies] == paths
    assert all(r.body == r.body[:3] * 40_000 for r in replies)
    assert errors == []


async def test_an_exception_after_the_answer_is_logged_and_adds_no_answer(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(connection: Any, req: Request) -> None:
        connection.send(req.path)
        if req.path == "/1":
            raise ValueError("after the answer")

    async def async_handler(connection: Any, req: Request) -> None:
        handler(connection, req)

    for on_message in (handler, async_handler):
        worker = http_worker(on_message)
        async with serving(anyio_backend, worker):
            data = request("GET", "/1") + request("GET", "/2")
            replies, closed = await exchange(port_of(worker), data, count=2)
        assert [(r.status, r.body) for r in replies] == [(200, b"/1"), (200, b"/2")]
        assert not closed
    assert caplog.text.count("after the answer") >= 2


async def test_a_target_in_raw_utf8_reads_like_its_percent_encoded_form(
    anyio_backend: str,
) -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def handler(connection: Any, req: Request) -> None:
        seen.append((req.path, req.get()))
        connection.send(req.path)

    worker = http_worker(handler)
    raw = b"GET /caf\xc3\xa9/%C3%A9?q=\xc3\xa9&r=%C3%A9 HTTP/1.1\r\nHost: x\r\n\r\n"
    encoded = request("GET", "/caf%C3%A9/%C3%A9?q=%C3%A9&r=%C3%A9")
    async with serving(anyio_backend, worker):
        replies, _ = await exchange(port_of(worker), raw + encoded, count=2)
    assert seen == [("/café/é", {"q": "é", "r": "é"})] * 2
    assert [r.body for r in replies] == ["/café/é".encode()] * 2
