"""Response.from_fields: a response whose header fields are bytes pairs already (as ASGI
apps send them): sent as given, framed by the server, and refused when a field could
split the head (header injection)."""

from __future__ import annotations

from typing import Any

import pytest

from workerman.core import Worker
from workerman.core.http import HttpExchange, Request, Response

from ..conftest import port_of, serving
from ._raw import exchange, request


def http_worker(handler: Any) -> Worker:
    worker = Worker("http://127.0.0.1:0")
    worker.on_message = handler
    return worker


async def test_fields_go_out_in_order_and_case_and_the_length_is_the_servers(
    anyio_backend: str,
) -> None:
    fields = [
        (b"X-First", b"1"),
        (b"set-cookie", b"a=1"),
        (b"content-type", b"text/plain"),
        (b"Set-Cookie", b"b=2"),
        (b"content-length", b"999"),  # the body's own length is sent instead
    ]

    def handler(connection: Any, req: Request) -> None:
        connection.send(Response.from_fields(201, fields, b"made"))

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        (reply,), _ = await exchange(port_of(worker), request())
    assert reply.status == 201
    assert reply.fields[-4:] == [
        ("X-First", "1"),
        ("set-cookie", "a=1"),
        ("content-type", "text/plain"),
        ("Set-Cookie", "b=2"),
    ]
    assert reply.all("content-length") == ["4"]
    assert reply.all("content-type") == ["text/plain"]  # no default Content-Type added
    assert reply.body == b"made"


async def test_a_connection_close_field_closes_after_the_answer(anyio_backend: str) -> None:
    def handler(connection: Any, req: Request) -> None:
        connection.send(Response.from_fields(200, [(b"connection", b"close")], b"bye"))

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        replies, closed = await exchange(port_of(worker), request() + request(), count=1)
    assert [r.body for r in replies] == [b"bye"]
    assert closed


@pytest.mark.parametrize(
    "field",
    [
        (b"X-Evil", b"a\r\nSet-Cookie: admin=1"),
        (b"X-Evil", b"a\nb"),
        (b"X-Evil", b"a\rb"),
        (b"X-Evil", b"a\0b"),
        (b"X-Evil\r\nSet-Cookie", b"admin=1"),
        (b"X Evil", b"1"),
        (b"X-Evil:", b"1"),
        (b"", b"1"),
    ],
)
def test_a_field_that_could_split_the_head_is_refused(field: tuple[bytes, bytes]) -> None:
    with pytest.raises(ValueError):
        Response.from_fields(200, [(b"content-type", b"text/plain"), field])
    with pytest.raises(ValueError):  # a second time too: nothing refused is remembered
        Response.from_fields(200, [(b"content-type", b"text/plain"), field])


def test_fields_must_be_bytes_and_the_status_three_digits() -> None:
    with pytest.raises(TypeError):
        Response.from_fields(200, [("content-type", "text/plain")])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        Response.from_fields(99, [])
    with pytest.raises(ValueError):
        Response.from_fields(1000, [])


def test_list_pairs_and_bytearrays_are_fields_too() -> None:
    response = Response.from_fields(200, [[b"X-A", bytearray(b"1")]])  # type: ignore[list-item]
    assert response.get_header("x-a") == "1"


def test_the_header_methods_see_and_change_the_fields() -> None:
    response = Response.from_fields(
        200, [(b"X-A", b"1"), (b"x-a", b"2"), (b"Content-Length", b"5")], b"hello"
    )
    assert response.get_header("X-A") == ["1", "2"]
    assert response.headers == {"X-A": ["1", "2"], "Content-Length": "5"}
    response.header("X-B", "3").without_header("x-a")
    assert response.headers == {"Content-Length": "5", "X-B": "3"}
    with pytest.raises(ValueError):
        response.header("X-C", "a\r\nb")


def test_a_response_from_fields_seen_before_is_its_own() -> None:
    fields = [(b"X-A", b"1")]
    first = Response.from_fields(200, fields)
    first.header("X-B", "2")
    second = Response.from_fields(200, fields)
    assert second.headers == {"X-A": "1"}


def test_changing_one_responses_values_leaves_the_next_ones_alone() -> None:
    fields = [(b"Content-Length", b"1"), (b"content-length", b"2"), (b"X-A", b"1")]
    first = Response.from_fields(200, fields)
    first.headers["Content-Length"].append("3")
    first.get_header("x-a")
    second = Response.from_fields(200, fields)
    assert second.get_header("content-length") == ["1", "2"]


def _answer(request: bytes, response: Response, *, keep: int = 0) -> bytes:
    """The bytes an exchange sends for ``response`` to ``request`` (``keep``: its
    ``max_keepalive_requests``)."""
    exchange = HttpExchange(max_keepalive_requests=keep)
    assert exchange.next_event(request) == HttpExchange.REQUEST
    data = exchange.encode(response)
    assert not exchange.outstanding
    return data


def _decoded(response: Response) -> Response:
    response.get_header("content-type")  # the fields become headers: the general encoding
    return response


@pytest.mark.parametrize(
    ("request_bytes", "status", "body", "keep"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, b"hello", 0),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 201, b"hello", 0),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, b"", 0),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, b"x" * 70_000, 0),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 204, b"", 0),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 103, b"", 0),
        (b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 200, b"hello", 0),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, b"hello", 0),
        (b"GET / HTTP/1.0\r\n\r\n", 200, b"hello", 0),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, b"hello", 0),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, b"hello", 1),  # the last request
    ],
)
@pytest.mark.parametrize(
    "fields",
    [
        [(b"content-type", b"text/plain"), (b"content-length", b"5")],
        [(b"X-A", b"1"), (b"Server", b"mine"), (b"date", b"yesterday")],
        [],
    ],
)
def test_the_head_kept_per_fields_is_the_one_the_general_encoding_makes(
    request_bytes: bytes, status: int, body: bytes, keep: int, fields: list[tuple[bytes, bytes]]
) -> None:
    for _ in range(3):  # made, then kept: the same each time
        kept = _answer(request_bytes, Response.from_fields(status, fields, body), keep=keep)
        general = _answer(
            request_bytes, _decoded(Response.from_fields(status, fields, body)), keep=keep
        )
        assert kept == general


def test_what_a_response_changes_after_from_fields_is_in_its_head() -> None:
    fields = [(b"content-type", b"text/plain")]
    get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    plain = _answer(get, Response.from_fields(200, fields, b"hi"))
    assert plain.startswith(b"HTTP/1.1 200 OK\r\n")
    changed = [
        Response.from_fields(200, fields, b"hi").with_status(404),
        Response.from_fields(200, fields, b"hi").with_status(200, "Fine"),
        Response.from_fields(200, fields, b"hi").with_protocol_version("1.0"),
        Response.from_fields(200, fields, b"hi").with_body(b"hello"),
        Response.from_fields(200, fields, b"hi").cookie("a", "1"),
        Response.from_fields(200, fields, b"hi").header("X-B", "2"),
    ]
    heads = [_answer(get, response) for response in changed]
    assert heads[0].startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert heads[1].startswith(b"HTTP/1.1 200 Fine\r\n")
    assert heads[2].startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"Content-Length: 5\r\n" in heads[3] and heads[3].endswith(b"\r\n\r\nhello")
    assert b"\r\nSet-Cookie: a=1\r\n" in heads[4]
    assert b"\r\nX-B: 2\r\n" in heads[5]
    assert plain == _answer(get, Response.from_fields(200, fields, b"hi"))  # kept unchanged


@pytest.mark.parametrize(
    "fields",
    [
        [(b"transfer-encoding", b"chunked")],
        [(b"content-type", b"text/event-stream")],
        [(b"connection", b"close")],
    ],
)
def test_fields_that_frame_the_body_or_end_the_connection_are_encoded_each_time(
    fields: list[tuple[bytes, bytes]],
) -> None:
    get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    for _ in range(2):
        exchange = HttpExchange()
        assert exchange.next_event(get) == HttpExchange.REQUEST
        general = HttpExchange()
        assert general.next_event(get) == HttpExchange.REQUEST
        assert exchange.encode(Response.from_fields(200, fields, b"hi")) == general.encode(
            _decoded(Response.from_fields(200, fields, b"hi"))
        )
        assert (exchange.outstanding, exchange.streaming, exchange.close_after) == (
            general.outstanding,
            general.streaming,
            general.close_after,
        )
