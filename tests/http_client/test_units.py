"""The pieces without a server: headers, URLs, request heads and bodies, decoders, SSE,
cookies, and the public surface."""

from __future__ import annotations

import gzip
import zlib

import pytest

import workerman.http_client as public
from workerman.http_client import (
    URL,
    CookieJar,
    DecodingError,
    Headers,
    HttpClient,
    HttpClientError,
    InvalidURL,
    LimitError,
    Proxy,
)
from workerman.http_client._body import encode_body
from workerman.http_client._decoders import make_decoder
from workerman.http_client._sse import ServerSentEvent, decode_sse


def test_headers_are_case_insensitive_and_multi_valued() -> None:
    headers = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X-One", "x")])
    assert headers["SET-COOKIE"] == "a=1, b=2"
    assert headers.get_list("Set-Cookie") == ["a=1", "b=2"]
    assert "x-one" in headers and len(headers) == 2
    headers.set("x-one", "y")
    assert headers["X-One"] == "y" and headers.raw[-1] == ("x-one", "y")
    assert headers == {"set-cookie": "a=1, b=2", "x-one": "y"}
    with pytest.raises(KeyError):
        headers["missing"]


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "http:///path", "http://host:99999/", "example.com/no-scheme"]
)
def test_invalid_urls(url: str) -> None:
    with pytest.raises(InvalidURL):
        URL(url)


def test_url_parts_targets_and_params() -> None:
    url = URL("https://user:p%40ss@Bücher.example:8443/a b/c?x=1#frag")
    assert url.host == "xn--bcher-kva.example" and url.port == 8443
    assert url.target == "/a%20b/c?x=1"
    assert (url.username, url.password) == ("user", "p@ss")
    assert url.host_header == "xn--bcher-kva.example:8443"
    assert URL("http://[::1]/").host_header == "[::1]"
    assert (
        url.with_params({"y": [1, 2], "z": None, "t": True}).target == "/a%20b/c?x=1&y=1&y=2&t=true"
    )
    assert url.join("/other").target == "/other"


def test_request_heads_refuse_header_injection() -> None:
    http = HttpClient()
    request = http.build_request("GET", "http://h/", headers={"X-Evil": "a\r\nInjected: 1"})
    with pytest.raises(HttpClientError, match="CR, LF or NUL"):
        request.encode_head()
    with pytest.raises(HttpClientError, match="invalid method"):
        http.build_request("GE T", "http://h/")
    head = http.build_request("POST", "http://h:81/p?q=1", content=b"abc").encode_head()
    assert head.startswith(b"POST /p?q=1 HTTP/1.1\r\nHost: h:81\r\nContent-Length: 3\r\n")
    assert head.endswith(b"\r\n\r\n")
    absolute = http.build_request("GET", "http://h/x").encode_head(
        True, "Proxy-Authorization: t\r\n"
    )
    assert (
        absolute.startswith(b"GET http://h/x HTTP/1.1\r\n")
        and b"Proxy-Authorization: t" in absolute
    )


def test_body_kinds_exclude_each_other() -> None:
    with pytest.raises(HttpClientError, match="one of"):
        encode_body(content=b"x", json={})
    with pytest.raises(HttpClientError, match="content="):
        encode_body(data=b"raw")  # type: ignore[arg-type]
    with pytest.raises(HttpClientError, match="cannot send"):
        encode_body(content=12)  # type: ignore[arg-type]


def test_decoders_in_pieces_and_broken_input() -> None:
    data = b"payload " * 5000
    for encoded, coding in [
        (gzip.compress(data), "gzip"),
        (zlib.compress(data), "deflate"),
        (zlib.compress(data)[2:-4], "deflate"),  # raw deflate, as some servers send it
        (gzip.compress(zlib.compress(data)), "deflate, gzip"),
    ]:
        decoder = make_decoder(coding)
        assert decoder is not None
        out = b"".join(
            p for i in range(0, len(encoded), 7) for p in decoder.decode(encoded[i : i + 7])
        )
        out += b"".join(decoder.flush())
        assert out == data, coding
    broken = make_decoder("gzip")
    assert broken is not None
    with pytest.raises(DecodingError):
        list(broken.decode(b"\x1f\x8b\x08\x00garbage" * 4))
    with pytest.raises(DecodingError, match="unsupported"):
        make_decoder("compress")
    assert make_decoder("identity") is None


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_decompression_yields_bounded_pieces(coding: str) -> None:
    import brotli

    plain = b"\0" * (8 * 1024 * 1024)
    bomb = gzip.compress(plain) if coding == "gzip" else brotli.compress(plain)
    decoder = make_decoder(coding)
    assert decoder is not None
    pieces = list(decoder.decode(bomb)) + list(decoder.flush())
    assert max(len(piece) for piece in pieces) <= 256 * 1024
    assert sum(len(piece) for piece in pieces) == len(plain)


def test_brotli_and_its_errors() -> None:
    import brotli

    decoder = make_decoder("br")
    assert decoder is not None
    assert b"".join(decoder.decode(brotli.compress(b"hello brotli"))) == b"hello brotli"
    broken = make_decoder("br")
    assert broken is not None
    with pytest.raises(DecodingError):
        list(broken.decode(b"\xff\xff\xff not brotli"))


@pytest.mark.anyio
async def test_sse_fields_line_ends_and_limits() -> None:
    async def chunks(*parts: bytes):  # type: ignore[no-untyped-def]
        for part in parts:
            yield part

    stream = chunks(
        b"\xef\xbb\xbfretry: 500\r\n: comment\r\nid: 7\rdata: a\n",
        b"data: b\n\nevent: x\ndata:c\n\n",
    )
    events = [e async for e in decode_sse(stream, 1000)]
    assert events == [
        ServerSentEvent("a\nb", "message", "7", 500),
        ServerSentEvent("c", "x", "7", 500),
    ]
    with pytest.raises(LimitError):
        [e async for e in decode_sse(chunks(b"data: " + b"z" * 2000), 1000)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_cookie_matching_rules() -> None:
    jar = CookieJar()
    jar.extract(
        URL("https://a.example.com/shop/cart"),
        [
            "sid=1; Secure; Path=/",
            "pref=2",  # default path: /shop
            "wide=3; Domain=example.com",
            "gone=4; Max-Age=0",
            "evil=5; Domain=other.com",
        ],
    )
    # longer paths first; sid is Secure; pref and wide default to the path /shop
    assert jar.header_for(URL("https://a.example.com/shop/item")) == "pref=2; wide=3; sid=1"
    assert jar.header_for(URL("http://a.example.com/shop/item")) == "pref=2; wide=3"
    assert jar.header_for(URL("https://b.example.com/shop/x")) == "wide=3"
    assert jar.header_for(URL("https://b.example.com/")) is None
    assert jar.get("evil") is None and jar.get("gone") is None
    jar.extract(URL("https://a.example.com/"), ["sid=x; Max-Age=0; Path=/"])
    assert jar.get("sid") is None


def test_proxy_urls() -> None:
    proxy = Proxy("http://u:p%3A@proxy.local:3128")
    assert (proxy.host, proxy.port, proxy.username, proxy.password) == (
        "proxy.local",
        3128,
        "u",
        "p:",
    )
    assert proxy.text == "http://proxy.local:3128"
    assert Proxy("socks5://s:1").kind == "socks5"
    with pytest.raises(InvalidURL):
        Proxy("ftp://x:1")


def test_public_surface() -> None:
    assert sorted(public.__all__) == sorted(
        name for name in dir(public) if not name.startswith("_") and name != "annotations"
    )
    for name in public.__all__:
        assert getattr(public, name).__module__.startswith("workerman.http_client")
