"""Response.from_fields: a response whose header fields are bytes pairs already (as ASGI
apps send them): sent as given, framed by the server, and refused when a field could
split the head (header injection)."""

from __future__ import annotations

from typing import Any

import pytest

from workerman.core import Worker
from workerman.core.http import Request, Response

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
