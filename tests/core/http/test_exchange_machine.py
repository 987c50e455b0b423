"""HttpExchange alone: bytes in, events and bytes out; no connection, loop or socket."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workerman.core.http import HttpExchange, RequestError, Response

X = HttpExchange
GET = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"


def events(exchange: HttpExchange, data: bytes = b"") -> list[object]:
    """Every event up to NEED_DATA or PAUSED, with what goes with it."""
    found: list[object] = []
    event = exchange.next_event(data)
    while True:
        if event == X.REQUEST:
            found.append(("request", exchange.info.method, exchange.info.uri, exchange.body))
        elif event == X.HEAD:
            found.append(("head", exchange.info.length))
        elif event == X.DATA:
            found.append(("data", bytes(exchange.data)))
        elif event == X.END:
            found.append(("end",))
        elif event == X.SEND:
            found.append(("send", exchange.data))
        elif event == X.NEED_DATA:
            found.append("need data")
            return found
        else:
            assert event == X.PAUSED
            found.append("paused")
            return found
        event = exchange.next_event()


def answered(exchange: HttpExchange, body: bytes = b"ok") -> bytes:
    return exchange.encode(Response(200, body=body))


def test_a_whole_request_in_one_read_is_handed_out_and_stays_outstanding() -> None:
    exchange = HttpExchange()
    assert exchange.next_event(GET) == X.REQUEST
    assert exchange.head == GET[:-4]
    assert (exchange.info.method, exchange.info.uri, exchange.body) == ("GET", "/a", b"")
    assert exchange.outstanding and not exchange.phase
    assert exchange.next_event() == X.PAUSED


def test_a_body_by_content_length_and_a_head_split_anywhere() -> None:
    raw = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    exchange = HttpExchange()
    assert events(exchange, raw[:10]) == ["need data"]
    assert exchange.phase == X.HEAD_BEGUN
    assert events(exchange, raw[10:-2]) == ["need data"]
    assert exchange.phase == X.BODY_BEGUN
    assert events(exchange, raw[-2:]) == [("request", "POST", "/p", b"hello"), "paused"]


def test_chunked_with_extensions_and_trailers() -> None:
    raw = (
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nExpires: never\r\n\r\n"
    )
    exchange = HttpExchange()
    assert events(exchange, raw[:70]) == ["need data"]
    assert events(exchange, raw[70:]) == [("request", "POST", "/c", b"hello world"), "paused"]


def test_pipelined_requests_are_handed_out_one_at_a_time_in_order() -> None:
    exchange = HttpExchange()
    raw = GET + GET.replace(b"/a", b"/b") + GET.replace(b"/a", b"/c")
    assert events(exchange, raw) == [("request", "GET", "/a", b""), "paused"]
    assert exchange.phase == X.HEAD_BEGUN  # the next one is here already
    assert b"Content-Length: 2\r\n\r\nok" in answered(exchange)
    assert events(exchange) == [("request", "GET", "/b", b""), "paused"]
    assert exchange.hello(b"ok") is not None  # complete
    assert events(exchange) == [("request", "GET", "/c", b""), "paused"]


def test_a_repeated_head_reads_as_the_first_and_another_of_its_length_as_itself() -> None:
    exchange = HttpExchange()
    close = GET.replace(b"Host: x", b"Connection: close\r\nHost: x")
    for raw, uri, keep_alive in [
        (GET, "/a", True),
        (GET, "/a", True),  # the same head again: the last one's reading
        (GET.replace(b"/a", b"/b"), "/b", True),  # as long, not the same
        (close, "/a", False),
        (GET, "/a", True),
    ]:
        assert events(exchange, raw) == [("request", "GET", uri, b""), "paused"]
        assert exchange.head == raw[:-4] and exchange.info.keep_alive is keep_alive
        answered(exchange)
    assert exchange.close_after is False


def test_bytes_that_come_while_a_request_is_outstanding_wait_for_its_response() -> None:
    exchange = HttpExchange()
    assert exchange.next_event(GET) == X.REQUEST
    assert events(exchange, GET.replace(b"/a", b"/b")) == ["paused"]
    assert exchange.unread == len(GET)
    answered(exchange)
    assert events(exchange) == [("request", "GET", "/b", b""), "paused"]


def test_100_continue_is_returned_once_when_the_body_is_awaited() -> None:
    head = b"PUT /u HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    exchange = HttpExchange()
    assert events(exchange, head) == [("send", b"HTTP/1.1 100 Continue\r\n\r\n"), "need data"]
    assert events(exchange, b"a") == ["need data"]
    assert events(exchange, b"bc") == [("request", "PUT", "/u", b"abc"), "paused"]


def test_no_100_continue_when_the_body_came_with_the_head() -> None:
    raw = b"PUT /u HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"
    assert events(HttpExchange(), raw) == [("request", "PUT", "/u", b"abc"), "paused"]


def test_keep_alive_by_version_and_connection_header() -> None:
    for raw, closes in (
        (GET, False),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", False),
    ):
        exchange = HttpExchange()
        assert exchange.next_event(raw) == X.REQUEST
        out = answered(exchange)
        assert exchange.close_after is closes
        assert (b"Connection: close\r\n" in out) is closes
        assert not exchange.outstanding


def test_a_response_that_says_connection_close_closes() -> None:
    exchange = HttpExchange()
    exchange.next_event(GET)
    exchange.encode(Response(200, {"Connection": "close"}, "bye"))
    assert exchange.close_after


def test_the_last_of_max_keepalive_requests_closes() -> None:
    exchange = HttpExchange(max_keepalive_requests=2)
    exchange.next_event(GET)
    assert exchange.hello(b"1") is not None and not exchange.close_after
    exchange.next_event(GET)
    assert exchange.hello(b"2") is None  # the cached keep-alive head does not fit
    assert b"Connection: close" in answered(exchange) and exchange.close_after


def test_draining_makes_the_current_or_next_response_the_last() -> None:
    busy = HttpExchange()
    busy.next_event(GET)
    busy.drain()
    assert b"Connection: close" in answered(busy) and busy.close_after
    idle = HttpExchange()
    idle.drain()
    idle.next_event(GET)
    assert idle.close_after


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 200 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 200, 431),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n", 413),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ],
)
def test_limits_and_bad_input_raise_request_error_with_the_status(raw: bytes, status: int) -> None:
    exchange = HttpExchange(max_header_size=128, max_size=4096)
    with pytest.raises(RequestError) as caught:
        events(exchange, raw)
    assert caught.value.status == status


def test_too_many_chunks_is_413() -> None:
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1\r\na\r\n" * 5
    with pytest.raises(RequestError) as caught:
        events(HttpExchange(max_chunks=4), raw + b"0\r\n\r\n")
    assert caught.value.status == 413


def test_a_large_body_is_handed_out_in_parts_for_the_glue_to_spool() -> None:
    head = b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
    exchange = HttpExchange(spool_size=4)
    assert events(exchange, head + b"abc") == [("head", 10), ("data", b"abc"), "need data"]
    assert exchange.phase == X.BODY_BEGUN
    assert events(exchange, b"defghij" + GET) == [("data", b"defghij"), ("end",), "paused"]
    assert exchange.info.uri == "/big" and exchange.unread == len(GET)


def test_an_upgrade_takes_the_bytes_after_the_request() -> None:
    raw = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    exchange = HttpExchange()
    assert exchange.next_event(raw + b"\x81\x00") == X.REQUEST
    exchange.finish()
    assert exchange.take_rest() == b"\x81\x00"
    assert exchange.unread == 0


def test_hello_encodes_a_whole_keep_alive_response() -> None:
    exchange = HttpExchange()
    exchange.next_event(GET)
    out = exchange.hello(b"hi")
    assert (
        out is not None and out.startswith(b"HTTP/1.1 200 OK\r\n") and out.endswith(b"\r\n\r\nhi")
    )
    assert b"Content-Length: 2\r\n" in out and not exchange.outstanding


def test_a_large_body_is_kept_apart_from_its_head_not_copied_with_it() -> None:
    from workerman.core.http._machine import JOIN_MAX

    body = b"x" * JOIN_MAX
    exchange = HttpExchange()
    assert exchange.next_event(GET) == X.REQUEST
    assert exchange.hello(body) is None  # too large for the joined hello
    head, rest = exchange.encode_apart(Response(200, body=body))
    assert rest is body  # the same object: written after the head, never joined
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    assert b"Content-Length: %d\r\n" % JOIN_MAX in head
    assert not exchange.outstanding
    small = HttpExchange()
    small.next_event(GET)
    data, nothing = small.encode_apart(Response(200, body=b"ok"))
    assert data.endswith(b"\r\n\r\nok") and nothing == b""


def test_a_head_request_gets_no_body() -> None:
    exchange = HttpExchange()
    exchange.next_event(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert exchange.hello(b"hi") is None
    out = answered(exchange, b"hi")
    assert out.endswith(b"Content-Length: 2\r\n\r\n")


def test_a_chunked_response_is_framed_and_ended() -> None:
    exchange = HttpExchange()
    exchange.next_event(GET)
    head = exchange.encode(Response(200, {"Transfer-Encoding": "chunked"}))
    assert b"Transfer-Encoding: chunked" in head and exchange.outstanding
    assert exchange.piece(b"abc") == b"3\r\nabc\r\n"
    assert exchange.end() == b"0\r\n\r\n"
    assert not exchange.outstanding and not exchange.close_after


def test_a_chunked_response_to_http_1_0_goes_bare_and_closes() -> None:
    exchange = HttpExchange()
    exchange.next_event(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    head = exchange.encode(Response(200, {"Transfer-Encoding": "chunked"}))
    assert b"Transfer-Encoding" not in head
    assert exchange.piece(b"abc") == b"abc"
    assert exchange.end() == b"" and exchange.close_after


def test_server_sent_events_end_with_the_close() -> None:
    exchange = HttpExchange()
    exchange.next_event(GET)
    head = exchange.encode(Response(200, {"Content-Type": "text/event-stream"}))
    assert b"Cache-Control: no-cache" in head
    assert exchange.piece(b"data: 1\n\n") == b"data: 1\n\n"
    assert exchange.end() == b"" and exchange.close_after


def test_an_error_answer_closes_unless_the_response_has_begun() -> None:
    exchange = HttpExchange()
    exchange.next_event(GET)
    out = exchange.fail(500, "")
    assert out is not None and out.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"Connection: close" in out and exchange.close_after and not exchange.outstanding
    begun = HttpExchange()
    begun.next_event(GET)
    begun.encode(Response(200, {"Transfer-Encoding": "chunked"}))
    assert begun.fail(500, "") is None and begun.close_after


def test_a_pumped_body_under_a_length_ends_with_nothing() -> None:
    exchange = HttpExchange()
    exchange.next_event(GET)
    head = exchange.encode_head(Response(200), 5)
    assert b"Content-Length: 5\r\n" in head and exchange.outstanding
    assert exchange.piece(b"hello") == b"hello"
    assert exchange.end() == b"" and not exchange.close_after


def _request(kind: str, index: int) -> tuple[bytes, tuple[str, bytes]]:
    path = f"/{index}"
    body = f"body-{index}-".encode() * (index % 3 + 1)
    if kind == "empty":
        return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), (path, b"")
    if kind == "length":
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body, (path, body)
    pieces = [body[:3], body[3:]]
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head.encode() + chunks + b"0\r\n\r\n", (path, body)


@settings(max_examples=200, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(["empty", "length", "chunked"]), min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
)
def test_any_split_of_pipelined_requests_gives_the_same_requests(
    kinds: list[str], cuts: list[int]
) -> None:
    made = [_request(kind, i) for i, kind in enumerate(kinds)]
    stream = b"".join(raw for raw, _ in made)
    marks = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    exchange = HttpExchange()
    seen: list[tuple[str, bytes]] = []
    for begin, end in pairwise(marks):
        event = exchange.next_event(stream[begin:end])
        while event not in (X.NEED_DATA, X.PAUSED):
            if event == X.REQUEST:
                seen.append((exchange.info.uri, exchange.body))
                assert exchange.hello(b"ok") is not None  # complete: the next may come
            event = exchange.next_event()
        assert event == X.NEED_DATA
    assert seen == [want for _, want in made]
    assert exchange.unread == 0
