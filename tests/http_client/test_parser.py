"""The response parser, fed real bytes: framing, limits, malformed input, and any split
of the stream giving the same events (hypothesis), checked against h11 as a reference."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workerman.http_client import END, LimitError, ProtocolError, ResponseHead, ResponseParser


def parse(data: bytes, method: str = "GET", eof: bool = False, **limits: int) -> list[object]:
    parser = ResponseParser(**limits)
    parser.expect(method)
    events = parser.feed(data)
    if eof:
        events += parser.feed_eof()
    return events


def body_of(events: list[object]) -> bytes:
    return b"".join(e for e in events if isinstance(e, bytes))


def heads(events: list[object]) -> list[ResponseHead]:
    return [e for e in events if isinstance(e, ResponseHead)]


def test_content_length_body_and_end() -> None:
    events = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello")
    (head,) = heads(events)
    assert (head.status, head.reason, head.version) == (200, "OK", "1.1")
    assert head.headers == [("Content-Length", "5"), ("X-A", "b")]
    assert head.keep_alive and head.content_length == 5
    assert body_of(events) == b"hello"
    assert events[-1] is END


def test_chunked_body_with_extensions_and_trailers() -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    events = parse(data)
    assert heads(events)[0].chunked
    assert body_of(events) == b"hello world"
    assert events[-1] is END


def test_close_delimited_body_ends_at_eof_and_is_not_kept_alive() -> None:
    parser = ResponseParser()
    parser.expect("GET")
    events = parser.feed(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nsome ")
    events += parser.feed(b"bytes")
    assert END not in events
    events += parser.feed_eof()
    assert body_of(events) == b"some bytes" and events[-1] is END
    assert not heads(events)[0].keep_alive


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    events = parse(b"HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n" % status)
    assert events[-1] is END and body_of(events) == b""


def test_head_response_has_no_body_whatever_its_length() -> None:
    events = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", method="HEAD")
    assert events[-1] is END and body_of(events) == b""


def test_informational_heads_come_before_the_final_one() -> None:
    events = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert [h.status for h in heads(events)] == [100, 200]
    assert body_of(events) == b"ok"


def test_connect_success_becomes_a_tunnel_with_its_first_bytes_unread() -> None:
    parser = ResponseParser()
    parser.expect("CONNECT")
    events = parser.feed(b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01")
    assert heads(events)[0].status == 200 and parser.complete
    assert parser.unread == b"\x16\x03\x01"


def test_keep_alive_rules() -> None:
    assert not heads(parse(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))[
        0
    ].keep_alive
    assert not heads(parse(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"))[0].keep_alive
    ka = parse(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
    assert heads(ka)[0].keep_alive


def test_transfer_encoding_beats_content_length_and_closes() -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\n\r\n"
    )
    events = parse(data)
    assert body_of(events) == b"ok" and not heads(events)[0].keep_alive


def test_obsolete_line_folding_is_unfolded() -> None:
    events = parse(b"HTTP/1.1 200 OK\r\nX-Long: one\r\n  two\r\nContent-Length: 0\r\n\r\n")
    assert heads(events)[0].headers[0] == ("X-Long", "one two")


def test_bare_lf_line_ends_are_accepted() -> None:
    events = parse(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
    assert body_of(events) == b"ok"


def test_bytes_after_the_end_wait_in_unread() -> None:
    parser = ResponseParser()
    parser.expect("GET")
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
    assert parser.complete and parser.unread == b"EXTRA"


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/2.0 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\x00\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded-first: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ],
)
def test_malformed_responses_raise_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse(data)


def test_truncated_bodies_raise_at_eof() -> None:
    with pytest.raises(ProtocolError, match="before the response body ended"):
        parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", eof=True)
    with pytest.raises(ProtocolError, match="without a complete response head"):
        parse(b"HTTP/1.1 200 OK\r\nX: y", eof=True)


def test_head_size_and_header_count_limits() -> None:
    with pytest.raises(LimitError):
        parse(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 2000, max_head_size=1024)
    with pytest.raises(LimitError):
        parse(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 11 + b"\r\n", max_headers=10)
    with pytest.raises(LimitError):
        parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + b"X: y\r\n" * 400,
            max_head_size=1024,
        )


def test_a_broken_parser_stays_broken() -> None:
    parser = ResponseParser()
    parser.expect("GET")
    with pytest.raises(ProtocolError):
        parser.feed(b"garbage\r\n\r\n")
    with pytest.raises(ProtocolError):
        parser.expect("GET")


# -- any split decodes the same ----------------------------------------------------------

_token = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).filter(
    lambda s: s.lower() not in ("content-length", "transfer-encoding", "connection")
)
_value = st.text("abcdefghij ;=,/0123456789", max_size=20).map(str.strip)
_body = st.binary(max_size=300)


@st.composite
def responses(draw: st.DrawFn) -> tuple[bytes, int, list[tuple[str, str]], bytes, str]:
    status = draw(st.sampled_from([200, 201, 204, 301, 404, 500]))
    headers = draw(st.lists(st.tuples(_token, _value), max_size=6))
    body = b"" if status == 204 else draw(_body)
    framing = "none" if status == 204 else draw(st.sampled_from(["length", "chunked", "close"]))
    block = [f"HTTP/1.1 {status} Reason Phrase".encode()]
    block += [f"{k}: {v}".encode() for k, v in headers]
    if framing == "length":
        block.append(b"Content-Length: %d" % len(body))
        payload = body
    elif framing == "chunked":
        block.append(b"Transfer-Encoding: chunked")
        sizes = draw(st.lists(st.integers(1, 50), max_size=10))
        payload, rest = b"", body
        for size in sizes:
            if not rest:
                break
            piece, rest = rest[:size], rest[size:]
            payload += b"%x\r\n%b\r\n" % (len(piece), piece)
        if rest:
            payload += b"%x\r\n%b\r\n" % (len(rest), rest)
        payload += b"0\r\n\r\n"
    else:
        payload = body
    data = b"\r\n".join(block) + b"\r\n\r\n" + payload
    return data, status, headers, body, framing


def _splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in points:
        pieces.append(data[last:point])
        last = point
    pieces.append(data[last:])
    return pieces


@settings(max_examples=200, deadline=None)
@given(responses(), st.lists(st.integers(0, 10_000), max_size=8))
def test_any_split_gives_the_same_response(
    response: tuple[bytes, int, list[tuple[str, str]], bytes, str], cuts: list[int]
) -> None:
    data, status, headers, body, framing = response
    parser = ResponseParser()
    parser.expect("GET")
    events: list[object] = []
    for piece in _splits(data, cuts):
        events += parser.feed(piece)
    events += parser.feed_eof()
    (head,) = heads(events)
    assert head.status == status
    assert [(k, v) for k, v in head.headers if k.lower() in {n for n, _ in headers}] == headers
    assert body_of(events) == body
    assert events[-1] is END and events.count(END) == 1

    # h11, a parser we did not write, reads the same bytes the same way
    reference = h11.Connection(h11.CLIENT)
    reference.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    reference.send(h11.EndOfMessage())
    reference.receive_data(data)
    if framing == "close":
        reference.receive_data(b"")
    seen, ref_body = None, b""
    while True:
        event = reference.next_event()
        if isinstance(event, h11.Response):
            seen = event
        elif isinstance(event, h11.Data):
            ref_body += event.data
        elif isinstance(event, h11.EndOfMessage) or event is h11.NEED_DATA:
            break
    assert seen is not None and seen.status_code == status and ref_body == body


@settings(max_examples=100, deadline=None)
@given(st.lists(responses(), min_size=2, max_size=4), st.lists(st.integers(0, 10_000), max_size=8))
def test_responses_one_after_another_on_one_connection(
    batch: list[tuple[bytes, int, list[tuple[str, str]], bytes, str]], cuts: list[int]
) -> None:
    batch = [r for r in batch if r[4] != "close"] or batch[:1]
    parser = ResponseParser()
    for data, status, _headers, body, framing in batch:
        parser.expect("GET")
        events: list[object] = []
        for piece in _splits(data, cuts):
            events += parser.feed(piece)
        if framing == "close":
            events += parser.feed_eof()
        assert heads(events)[0].status == status
        assert body_of(events) == body and events[-1] is END
        assert parser.unread == b""


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(0, 400), max_size=5))
def test_garbage_never_raises_anything_but_protocol_or_limit_errors(
    data: bytes, cuts: list[int]
) -> None:
    parser = ResponseParser(max_head_size=128)
    parser.expect("GET")
    try:
        for piece in _splits(b"HTTP/1.1 200 OK\r\n" + data, cuts):
            parser.feed(piece)
        parser.feed_eof()
    except (ProtocolError, LimitError):
        pass
