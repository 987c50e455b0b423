"""Property tests: a stream of pipelined requests gives the same requests and responses
however TCP splits it, through the codec contract, the connection's hot path in
process, and a real socket."""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workerman.core import TcpConnection, Worker
from workerman.core.http import Http, Request, Response

from ..conftest import port_of, serving
from ._raw import split_replies

pytestmark = pytest.mark.anyio

TOKEN = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=8
)
PATH = st.text("abcxyz019-._~%2F", max_size=12).map(lambda p: "/" + p.replace("%", "%25"))
QUERY = st.one_of(st.just(""), st.text("abc=&+19", max_size=10).map(lambda q: "?" + q))
VALUE = st.text('abc xyz019;,="/\t', max_size=20).map(str.strip)


@dataclass
class Sent:
    """A request as generated: what the server must hand the handler."""

    method: str
    uri: str
    headers: dict[str, str]
    body: bytes
    wire: bytes


@st.composite
def requests(draw: st.DrawFn) -> Sent:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    uri = draw(PATH) + draw(QUERY)
    fields = {"host": draw(TOKEN)}
    for name in draw(st.lists(TOKEN, max_size=3, unique_by=str.lower)):
        if name.lower() not in ("host", "content-length", "transfer-encoding", "connection"):
            fields[f"x-{name.lower()}"] = draw(VALUE)
    body = draw(st.binary(max_size=300)) if method != "GET" else b""
    framing = draw(st.sampled_from(["length", "chunked"])) if body or method != "GET" else "none"
    if draw(st.booleans()) and framing != "none":
        fields["expect"] = "100-continue"
    lines = [f"{method} {uri} HTTP/1.1"]
    lines += [f"{name.title()}: {value}" for name, value in fields.items()]
    if framing == "length":
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        encoded = []
        for piece in pieces:
            if piece:
                extension = draw(st.sampled_from(["", ";a=b", ";x"]))
                encoded.append(b"%x%s\r\n%s\r\n" % (len(piece), extension.encode(), piece))
        trailer = draw(st.sampled_from([b"", b"X-Check: 1\r\n"]))
        payload = b"".join(encoded) + b"0\r\n" + trailer + b"\r\n"
    else:
        payload = b""
    wire = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
    return Sent(method, uri, fields, body, wire)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """``data`` cut at ``points`` (any order, repeats give empty pieces)."""
    edges = [0, *sorted(p % (len(data) + 1) for p in points), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


STREAMS = st.lists(requests(), min_size=1, max_size=5)
CUTS = st.lists(st.integers(min_value=0, max_value=10_000), max_size=12)


def seen(req: Request) -> tuple[str, str, dict[str, str], bytes]:
    headers = {
        k: v for k, v in req.headers.items() if k.startswith("x-") or k in ("host", "expect")
    }
    return req.method, req.uri, headers, req.raw_body


def expected(sent: Sent) -> tuple[str, str, dict[str, str], bytes]:
    return sent.method, sent.uri, sent.headers, sent.body


# -- the codec contract: input, then decode ---------------------------------------------


@given(stream=STREAMS, points=CUTS)
def test_input_and_decode_give_the_same_requests_for_any_split(
    stream: list[Sent], points: list[int]
) -> None:
    data = b"".join(s.wire for s in stream)
    decoded = []
    buffer = b""
    for piece in cut(data, points):
        buffer += piece
        while buffer:
            length = Http.input(buffer, None)
            if length == 0 or length > len(buffer):  # unknown, or known but not all here
                break
            decoded.append(seen(Http.decode(buffer[:length], None)))
            buffer = buffer[length:]
    assert buffer == b""
    assert decoded == [expected(s) for s in stream]


# -- the connection's own loop, in process ------------------------------------------------


class Wire:
    """The transport half of a connection: records what the server writes."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    abort = close

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class NoTimerHttp(Http):
    header_timeout: ClassVar[float] = 0  # no loop runs here to time heads out
    body_timeout: ClassVar[float] = 0  # nor bodies


def summary(req: Request) -> bytes:
    digest = hashlib.md5(req.raw_body).hexdigest()[:8]
    return f"{req.method} {req.uri} {len(req.raw_body)} {digest} {req.header('x-a')}".encode()


def answer(connection: TcpConnection, req: Request) -> None:
    """Plain text for some requests (the fast path), a Response for others."""
    if req.method in ("GET", "POST"):
        connection.send(summary(req))
    else:
        connection.send(Response(201, {"X-Method": req.method}, summary(req)))


_DATE = re.compile(rb"\r\nDate: [^\r]*")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def run_in_process(pieces: list[bytes]) -> tuple[list[Any], bytes, bool]:
    got: list[Any] = []
    worker = Worker("http://127.0.0.1:0", protocol=NoTimerHttp)

    def handler(connection: TcpConnection, req: Request) -> None:
        got.append(seen(req))
        answer(connection, req)

    worker.on_message = handler
    connection = TcpConnection(worker)
    wire = Wire()
    connection.connection_made(wire)
    for piece in pieces:
        if piece:
            connection.data_received(piece)
    out = _DATE.sub(b"", bytes(wire.out))
    connection.connection_lost(None)
    return got, out, wire.closed


@given(stream=STREAMS, points=CUTS, blank_lines=st.booleans())
def test_the_connection_gives_the_same_requests_and_responses_for_any_split(
    stream: list[Sent], points: list[int], blank_lines: bool
) -> None:
    separator = b"\r\n" if blank_lines else b""  # empty lines between requests are allowed
    data = b"".join(separator + s.wire for s in stream)
    whole_got, whole_out, _ = run_in_process([data])
    got, out, closed = run_in_process(cut(data, points))
    assert got == whole_got == [expected(s) for s in stream]
    assert not closed
    # a 100 Continue goes out when a head waits for its body, so only a split adds them
    assert out.count(_CONTINUE) <= sum("expect" in s.headers for s in stream)
    assert out.replace(_CONTINUE, b"") == whole_out.replace(_CONTINUE, b"")
    replies, rest = split_replies(whole_out)
    assert rest == b""
    assert [r.body for r in replies if r.status >= 200] == [summary_of(s) for s in stream]


def summary_of(sent: Sent) -> bytes:
    digest = hashlib.md5(sent.body).hexdigest()[:8]
    return f"{sent.method} {sent.uri} {len(sent.body)} {digest} {sent.headers.get('x-a')}".encode()


# -- a real socket -----------------------------------------------------------------------


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=STREAMS, points=CUTS)
async def test_a_real_socket_gives_the_same_responses_for_any_split(
    anyio_backend: str, stream: list[Sent], points: list[int]
) -> None:
    data = b"".join(s.wire for s in stream)
    got: list[Any] = []
    worker = Worker("http://127.0.0.1:0")

    def handler(connection: TcpConnection, req: Request) -> None:
        got.append(seen(req))
        answer(connection, req)

    worker.on_message = handler
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            for piece in cut(data, points):
                if piece:
                    await client.send(piece)
                    await anyio.sleep(0.003)
            received = b""
            with anyio.fail_after(5):
                while True:
                    replies, _ = split_replies(received)
                    if len([r for r in replies if r.status >= 200]) == len(stream):
                        break
                    received += await client.receive()
    replies, rest = split_replies(received)
    assert rest == b""
    assert [r.body for r in replies if r.status >= 200] == [summary_of(s) for s in stream]
    assert got == [expected(s) for s in stream]
