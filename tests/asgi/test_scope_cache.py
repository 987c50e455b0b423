"""The worker's cache of scope parts by head: a head is kept the second time it comes."""

from __future__ import annotations

from workerman.asgi._scope import Heads
from workerman.core.http import Request


def _request(head: bytes) -> Request:
    uri = head.split(b" ")[1].decode()
    return Request(None, head, b"", "GET", uri, "1.1", True)


def test_a_head_is_kept_the_second_time_it_comes() -> None:
    heads = Heads("", secure=False)
    head = b"GET /items/7?q=a%20b HTTP/1.1\r\nHost: x\r\nCookie: session=1"
    first = heads.learn(_request(head))
    assert heads.cache.known == {}
    second = heads.learn(_request(head))
    assert heads.cache.known == {head: second}
    assert second[0] == first[0]
    assert second[0]["path"] == "/items/7"
    assert second[1] == [(b"host", b"x"), (b"cookie", b"session=1")]


def test_heads_that_come_once_are_never_kept() -> None:
    heads = Heads("", secure=False)
    for n in range(3000):
        heads.learn(_request(b"GET /items/%d HTTP/1.1\r\nHost: x" % n))
    assert heads.cache.known == {}
    assert len(heads.cache.seen) <= 1024
