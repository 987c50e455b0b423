"""The byte-table readings of a request head and of a Cookie header give exactly what the
regular expressions they stand in for give: the head's grammar (``GRAMMAR``) and the
cookie pair expression (``_PAIR``), on generated input that is mostly near the grammar."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from workerman.core import _extensions
from workerman.core.http import Http, _cookies, _head
from workerman.core.http._cookies import _PAIR, _split, parse_cookies
from workerman.core.http._head import GRAMMAR, _values, analyse, field_values, valid

try:
    from workerman.core.http import _scan
except ImportError:  # the pure build
    _scan = None  # type: ignore[assignment]

# pieces a head is made of, and the bytes that break it
_PIECES = [
    b"GET",
    b"POST",
    b"G(T",
    b" ",
    b"  ",
    b"/",
    b"/a?b=c",
    b"http://x/",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"HTTP/1.",
    b"HTTP/a.1",
    b"HTTP/1x1",
    b"http/1.1",
    b"\r\n",
    b"\r",
    b"\n",
    b"Host",
    b"Content-Length",
    b"host",
    b"expect",
    b"X-A",
    b":",
    b": ",
    b"v",
    b"\t",
    b"\x00",
    b"\x7f",
    b"\x80\xff",
    b"\x1b",
    b",",
    b"@",
    b'"',
    b"a b",
    b"\x01",
]


_TOKEN = st.text(alphabet="!#$%&'*+-.^_`|~09AZaz", min_size=1, max_size=6)
_VALUE = st.binary(max_size=8).map(lambda b: bytes(c for c in b if c == 9 or 32 <= c != 127))


_FRAMING_NAMES = ["Host", "content-length", "EXPECT", "Connection", "Transfer-Encoding", "hosts"]


@st.composite
def _head_like(draw: st.DrawFn) -> bytes:
    """A valid head, often with one piece put in somewhere or one byte taken out."""
    method = draw(st.one_of(st.sampled_from(["GET", "POST"]), _TOKEN)).encode()
    target = draw(st.sampled_from([b"/", b"/a?b=c", b"*", b"http://x/\x80"]))
    version = draw(st.sampled_from([b"1.1", b"1.0", b"2.0", b"9.9"]))
    fields = draw(
        st.lists(
            st.tuples(
                st.one_of(_TOKEN, st.sampled_from(_FRAMING_NAMES)).map(str.encode),
                st.sampled_from([b":", b": "]),
                _VALUE,
            ),
            max_size=5,
        )
    )
    head = b"\r\n".join(
        [method + b" " + target + b" HTTP/" + version, *(b"".join(f) for f in fields)]
    )
    change = draw(st.sampled_from(["none", "insert", "delete"]))
    if change != "none" and head:
        at = draw(st.integers(0, len(head) - 1))
        if change == "insert":
            head = head[:at] + draw(st.sampled_from(_PIECES)) + head[at:]
        else:
            head = head[:at] + head[at + 1 :]
    return head


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_head_like(), st.lists(st.sampled_from(_PIECES)).map(b"".join)))
@example(b"GET / HTTP/1.1")
@example(b"GET / HTTP/1.1\r\nHost: x\r\n")
@example(b"GET / HTTP/1.1\r\n\r\nHost: x")
@example(b"GET /\t HTTP/1.1")
@example(b"GET / HTTP/1.1\r\n: x")
@example(b"GET / HTTP/1.1\r\nHost : x")
@example(b"GET / HTTP/1.1\r\nHost:\x80\xff\t")
@example(b"GET / HTTP/1.1\r\r\nHost: x")
@example(b"GET / HTTP/\xd9.1")
@example(b"GE:T / HTTP/1.1")
@example(b"GET / HTTP/1.1\r\nA\x01: b")
@example(b"GET / HTTP/1.1\r\nA:")
@example(b"GET / HTTP/1.1\r\nHOST:x\r\nContent-Length:1")
@example(b"GET * HTTP/1.1x")
@example(b"GET / HTTP/1.1\r\nA")
@example(b"GET / HTTP/1.1\r\nA:")
@example(b"GET / HTTP/1.1\r\nHOST:x\r\nContent-Length:1")
@example(b"GET * HTTP/1.1x")
def test_the_tables_accept_what_the_grammar_matches(head: bytes) -> None:
    match = GRAMMAR.fullmatch(head)
    expected = None
    if match is not None:
        framing = re.findall(
            rb"\r\n(content-length|transfer-encoding|host|connection|expect):", head.lower()
        )
        expected = (match.group(1, 2, 3), head.lower(), framing)
    assert valid(head) == expected
    if _scan is not None:  # the compiled build's C kernel reads it alike
        assert _scan.valid(head) == expected
    if expected is not None:  # and one field's values, as _values reads them
        lower = head.lower()
        for name in (b"host", b"x-a", b"content-length", b"v"):
            needle = b"\r\n" + name + b":"
            values = _values(lower, needle, head)
            after = rb"(?<=" + re.escape(needle) + rb")[^\r]*"
            assert _values(lower, needle) == [v.strip(b" \t") for v in re.findall(after, lower)]
            assert [v.lower() for v in values] == _values(lower, needle)
            if _scan is not None:
                assert _scan.values(lower, needle, head) == values
                assert _scan.values(lower, needle, lower) == _values(lower, needle)


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"\r\n\r\n", b"a", b"GET "])).map(b"".join),
    st.sampled_from([b"\r\n\r\n", b"\r\n", b"\r", b"a", b"", b"\n\r\n\r"]),
    st.integers(-12, 40),
)
def test_find_finds_what_bytes_find_finds(haystack: bytes, needle: bytes, start: int) -> None:
    expected = haystack.find(needle, start)
    assert _head.find(haystack, needle, start) == expected
    if _scan is not None:  # the compiled build's C kernel finds it alike
        assert _scan.find(haystack, needle, start) == expected
        for huge in (2**70, -(2**70)):
            assert _scan.find(haystack, needle, huge) == haystack.find(needle, huge)


def test_the_kernel_loads_with_the_compiled_build_only() -> None:
    assert (_scan is not None) == (_extensions.choose() == "compiled")
    if _scan is not None:
        assert _head._valid is _scan.valid and _head._field is _scan.values
        assert _cookies._plain is _scan.cookies
        assert _head.find is _scan.find
        with pytest.raises(TypeError):
            _scan.valid(bytearray(b"GET / HTTP/1.1"))  # type: ignore[arg-type]
    else:
        assert _head._valid is valid and _head._field is _values
        assert _cookies._plain is _split
        assert _head.find is bytes.find


def test_analyse_refuses_what_the_grammar_refuses() -> None:
    from workerman.core.http import RequestError

    for head in (
        b"GET / HTTP/1.1\r\nHo st: x",
        b"GET / HTTP/1.1\r\nHost: x\ry",
        b"GET  / HTTP/1.1",
    ):
        with pytest.raises(RequestError) as caught:
            analyse(head)
        assert caught.value.status == 400


# -- cookies ---------------------------------------------------------------------------------

_COOKIE_PIECES = [
    "a",
    "session",
    "=",
    ";",
    "; ",
    " ",
    "\t",
    ",",
    '"',
    "1",
    "x=y",
    "\xa0",
    "\u2003",
    "\n",
    "é",
    "==",
]


def _regex_cookies(header: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for name, raw in _PAIR.findall(header):
        quoted = len(raw) >= 2 and raw[0] == raw[-1] == '"'
        cookies.setdefault(name, raw[1:-1] if quoted else raw)
    return cookies


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_COOKIE_PIECES), max_size=16).map("".join))
@example("theme=dark; session=0000000100000002; lang=en")
@example("a b=c; d=e")
@example("a,b=c")
@example("=x; y=1")
@example("a=1; a=2")
@example("a=1\n")
@example("a=1\nb")
@example("\xa0a\xa0=\xa0b\xa0")
def test_cookies_split_as_the_expression_reads_them(header: str) -> None:
    assert parse_cookies(header) == _regex_cookies(header)
    if _scan is not None:  # the compiled build's C kernel splits as _split does
        assert _scan.cookies(header) == _split(header)


def test_one_field_read_from_the_head_as_the_dict_of_all_has_it() -> None:
    head = (
        b"GET / HTTP/1.1\r\nHost: x\r\nCOOKIE: a=1;  B=Two \r\nAccept: */*\r\n"
        b"cookie:\tc=3\r\nX-Cookie: no=1"
    )
    assert field_values(head, b"cookie") == [b"a=1;  B=Two", b"c=3"]
    assert field_values(head, b"host") == [b"x"]
    assert field_values(head, b"missing") == []
    fresh = Http.decode(head + b"\r\n\r\n", None)
    assert fresh.cookie() == {"a": "1", "B": "Two", "c": "3"}
    read = Http.decode(head + b"\r\n\r\n", None)
    assert read.header("cookie") == "a=1;  B=Two; c=3"
    assert read.cookie() == fresh.cookie()


def test_a_head_is_kept_the_second_time_it_comes() -> None:
    """Heads that come once (a browser's, path, query and cookies in them) are not kept;
    one that comes again is, and is answered from the cache after that."""
    head = b"GET /once?n=" + str(id(object())).encode() + b" HTTP/1.1\r\nHost: x"
    first = analyse(head)
    assert head not in _head._cache.known
    second = analyse(head)
    assert _head._cache.known[head] is second
    assert analyse(head) is second
    assert (second.method, second.uri, second.keep_alive) == (first.method, first.uri, True)
