"""Chunk extensions are checked against RFC 9112's grammar (a NUL, a bare LF or CR in one
is the "funky chunks" request-smuggling class: a 400), and an absolute-form target names
the host (RFC 9112 3.2.2)."""

from __future__ import annotations

import pytest

from workerman.core.http import Http, RequestError
from workerman.core.http._head import dechunk_size


@pytest.mark.parametrize(
    ("line", "size"),
    [
        (b"1a", 26),
        (b"1a;name", 26),
        (b"1a ; name=value", 26),
        (b'5;a="quoted \\" value";b=2', 5),
        (b"0;ieof", 0),
    ],
)
def test_well_formed_extensions_are_ignored(line: bytes, size: int) -> None:
    assert dechunk_size(line) == size


@pytest.mark.parametrize(
    "line",
    [
        b"5;a\x00b",  # a NUL
        b"5;a\nb",  # a bare LF (the size line ends only at CRLF)
        b"5;a\rb",  # a bare CR
        b"5;",  # a semicolon and no name
        b"5;=v",
        b'5;a="unterminated',
        b"5;a=\x7f",
        b"5 x",  # junk after the size
    ],
)
def test_malformed_size_lines_are_refused_with_400(line: bytes) -> None:
    with pytest.raises(RequestError) as raised:
        dechunk_size(line)
    assert raised.value.status == 400


def test_a_funky_chunk_in_a_request_is_refused() -> None:
    smuggling = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;x\nGET /smuggled HTTP/1.1\r\nabcde\r\n0\r\n\r\n"
    )
    with pytest.raises(RequestError) as raised:
        Http.input(smuggling, None)
    assert raised.value.status == 400


@pytest.mark.parametrize(
    ("target", "host"),
    [
        ("http://a.example/x", "a.example"),
        ("http://a.example:8080/x?y=1", "a.example:8080"),
        ("http://user@a.example/", "a.example"),
        ("http://a.example", "a.example"),
        ("/x", "b.example"),
    ],
)
def test_an_absolute_form_target_names_the_host(target: str, host: str) -> None:
    raw = f"GET {target} HTTP/1.1\r\nHost: b.example\r\n\r\n".encode()
    request = Http.decode(raw[: Http.input(raw, None)], None)
    assert request.host == host
