"""The client against uvicorn (a server we did not write) serving asgi_app.py."""

from __future__ import annotations

import gzip
import json
from contextlib import aclosing

import anyio
import pytest

from workerman.http_client import (
    BasicAuth,
    BearerAuth,
    HttpClient,
    HTTPStatusError,
    LimitError,
    Limits,
    PoolTimeout,
    ReadTimeout,
    Response,
    StreamConsumed,
    Timeout,
    TooManyRedirects,
    TotalTimeout,
)

pytestmark = pytest.mark.anyio


def echoed(response: Response) -> dict[str, object]:
    data = response.parse_json()
    assert isinstance(data, dict)
    data["headers"] = {k: v for k, v in data["headers"]}
    return data


async def test_get_reads_status_headers_and_body(http: HttpClient, uvicorn_url: str) -> None:
    response = await http.get(f"{uvicorn_url}/hello")
    assert (response.status_code, response.reason_phrase) == (200, "OK")
    assert response.http_version == "HTTP/1.1"
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["content-length"] == "11"
    assert response.content == b"Hello World"
    assert await response.read() == b"Hello World"
    assert await response.text() == "Hello World"
    assert response.is_success and not response.is_redirect


async def test_params_headers_and_defaults_reach_the_server(
    http: HttpClient, uvicorn_url: str
) -> None:
    response = await http.get(
        f"{uvicorn_url}/echo?a=1", params={"q": "x y", "n": [1, 2]}, headers={"X-Test": "yes"}
    )
    data = echoed(response)
    assert data["query"] == "a=1&q=x+y&n=1&n=2"
    headers = data["headers"]
    assert isinstance(headers, dict)
    assert headers["x-test"] == "yes"
    assert headers["host"] == uvicorn_url.removeprefix("http://")
    assert headers["user-agent"].startswith("workerman-http-client/")
    assert "gzip" in headers["accept-encoding"]


async def test_keep_alive_reuses_one_connection(http: HttpClient, uvicorn_url: str) -> None:
    for _ in range(5):
        assert (await http.get(f"{uvicorn_url}/hello")).status_code == 200
    (counts,) = http.stats().values()
    assert counts == {"idle": 1, "in_use": 0, "waiting": 0}


async def test_concurrent_requests_share_the_pool_within_its_limit(
    loop: None, uvicorn_url: str
) -> None:
    async with HttpClient(max_connections_per_host=4) as http:
        results: list[bytes] = []

        async def one() -> None:
            results.append((await http.get(f"{uvicorn_url}/hello")).content)

        async with anyio.create_task_group() as tg:
            for _ in range(40):
                tg.start_soon(one)
        assert results == [b"Hello World"] * 40
        (counts,) = http.stats().values()
        assert counts["idle"] <= 4 and counts["in_use"] == 0


async def test_request_bodies_of_every_kind(http: HttpClient, uvicorn_url: str) -> None:
    url = f"{uvicorn_url}/echo"
    data = echoed(await http.post(url, content=b"raw\x00bytes"))
    assert data["body"] == "raw\x00bytes" and data["method"] == "POST"

    data = echoed(await http.put(url, content="text é"))
    assert data["body"] == "text é".encode().decode("latin-1")
    assert data["headers"]["content-type"] == "text/plain; charset=utf-8"  # type: ignore[index]

    data = echoed(await http.post(url, data={"a": "1", "b": ["x", "y"]}))
    assert data["body"] == "a=1&b=x&b=y"
    assert data["headers"]["content-type"] == "application/x-www-form-urlencoded"  # type: ignore[index]

    data = echoed(await http.patch(url, json={"k": [1, 2], "u": "é"}))
    assert json.loads(str(data["body"]).encode("latin-1")) == {"k": [1, 2], "u": "é"}
    assert data["headers"]["content-type"] == "application/json"  # type: ignore[index]

    data = echoed(
        await http.post(
            url,
            data={"field": "value"},
            files={"upload": ("report.csv", b"a,b\n1,2\n", "text/csv"), "raw": b"\x00\x01"},
        )
    )
    body = str(data["body"])
    content_type = data["headers"]["content-type"]  # type: ignore[index]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=")[1]
    assert body.startswith(f"--{boundary}\r\n") and body.endswith(f"--{boundary}--\r\n")
    assert 'name="field"\r\n\r\nvalue\r\n' in body
    assert (
        'name="upload"; filename="report.csv"\r\nContent-Type: text/csv\r\n\r\na,b\n1,2\n' in body
    )
    assert 'name="raw"; filename="raw"' in body


async def test_an_async_iterator_is_sent_chunked(http: HttpClient, uvicorn_url: str) -> None:
    async def pieces():  # type: ignore[no-untyped-def]
        for i in range(50):
            yield b"%04d" % i
            await anyio.sleep(0)

    data = echoed(await http.post(f"{uvicorn_url}/echo", content=pieces()))
    assert data["headers"]["transfer-encoding"] == "chunked"  # type: ignore[index]
    assert data["body"] == "".join(f"{i:04d}" for i in range(50))


async def test_a_large_upload_and_download(http: HttpClient, uvicorn_url: str) -> None:
    payload = bytes(range(256)) * (8 * 4096)  # 8 MiB
    data = echoed(await http.post(f"{uvicorn_url}/echo", content=payload))
    assert data["size"] == len(payload)
    response = await http.get(f"{uvicorn_url}/big", params={"size": 12 * 1024 * 1024 + 7})
    assert len(response.content) == 12 * 1024 * 1024 + 7


async def test_chunked_gzip_and_deflate_responses_are_decoded(
    http: HttpClient, uvicorn_url: str
) -> None:
    assert (await http.get(f"{uvicorn_url}/chunked")).content == b"part0;part1;part2;part3;part4;"
    gz = await http.get(f"{uvicorn_url}/gzip")
    assert gz.headers["content-encoding"] == "gzip" and gz.content == b"compressed " * 1000
    assert (await http.get(f"{uvicorn_url}/deflate")).content == b"deflated " * 1000


async def test_a_decompression_bomb_is_refused_not_inflated(loop: None, uvicorn_url: str) -> None:
    async with HttpClient(limits=Limits(max_body_size=1024 * 1024)) as http:
        with pytest.raises(LimitError, match="decoded response body"):
            await http.get(f"{uvicorn_url}/bomb", params={"mib": 20})
        async with http.stream("GET", f"{uvicorn_url}/bomb", params={"mib": 2}) as response:
            with pytest.raises(LimitError):
                await response.read()


async def test_text_uses_the_charset_of_content_type(http: HttpClient, uvicorn_url: str) -> None:
    response = await http.get(f"{uvicorn_url}/charset")
    assert response.charset == "latin-1" and await response.text() == "héllo"


async def test_raise_for_status(http: HttpClient, uvicorn_url: str) -> None:
    ok = await http.get(f"{uvicorn_url}/status", params={"code": 201})
    assert ok.raise_for_status() is ok
    missing = await http.get(f"{uvicorn_url}/status", params={"code": 404})
    with pytest.raises(HTTPStatusError, match="client error 404") as caught:
        missing.raise_for_status()
    assert caught.value.response.content == b"status page"
    with pytest.raises(HTTPStatusError, match="server error 503"):
        (await http.get(f"{uvicorn_url}/status", params={"code": 503})).raise_for_status()


async def test_head_gets_no_body(http: HttpClient, uvicorn_url: str) -> None:
    response = await http.head(f"{uvicorn_url}/hello")
    assert response.status_code == 200 and response.content == b""
    assert (await http.get(f"{uvicorn_url}/hello")).content == b"Hello World"  # same connection


# -- redirects ---------------------------------------------------------------------------


async def test_redirects_are_followed_with_history(http: HttpClient, uvicorn_url: str) -> None:
    response = await http.get(f"{uvicorn_url}/redirect/3")
    assert response.status_code == 200 and echoed(response)["path"] == "/echo"
    assert [r.status_code for r in response.history] == [302, 302, 302]
    assert str(response.url) == f"{uvicorn_url}/echo"


async def test_too_many_redirects(loop: None, uvicorn_url: str) -> None:
    async with HttpClient(max_redirects=2) as http:
        with pytest.raises(TooManyRedirects) as caught:
            await http.get(f"{uvicorn_url}/redirect/5")
        assert len(caught.value.history) == 3


async def test_redirects_can_be_turned_off(http: HttpClient, uvicorn_url: str) -> None:
    response = await http.get(f"{uvicorn_url}/redirect/1", follow_redirects=False)
    assert response.status_code == 302 and response.headers["location"] == "/echo"


@pytest.mark.parametrize(
    ("status", "method", "body"),
    [(303, "GET", ""), (302, "GET", ""), (307, "POST", "data"), (308, "POST", "data")],
)
async def test_redirect_methods(
    http: HttpClient, uvicorn_url: str, status: int, method: str, body: str
) -> None:
    response = await http.post(
        f"{uvicorn_url}/redirect/1", params={"status": status}, content=b"data"
    )
    data = echoed(response)
    assert (data["method"], data["body"]) == (method, body)


async def test_credentials_are_dropped_across_origins(http: HttpClient, uvicorn_url: str) -> None:
    other = uvicorn_url.replace("127.0.0.1", "localhost") + "/echo"
    response = await http.get(
        f"{uvicorn_url}/to", params={"url": other}, headers={"Authorization": "secret"}
    )
    assert "authorization" not in echoed(response)["headers"]  # type: ignore[operator]
    same = await http.get(
        f"{uvicorn_url}/to", params={"url": "/echo"}, headers={"Authorization": "secret"}
    )
    assert echoed(same)["headers"]["authorization"] == "secret"  # type: ignore[index]


async def test_auth_helpers(loop: None, uvicorn_url: str) -> None:
    async with HttpClient(auth=BearerAuth("tok")) as http:
        data = echoed(await http.get(f"{uvicorn_url}/echo"))
        assert data["headers"]["authorization"] == "Bearer tok"  # type: ignore[index]
        data = echoed(await http.get(f"{uvicorn_url}/echo", auth=BasicAuth("user", "pw")))
        assert data["headers"]["authorization"] == "Basic dXNlcjpwdw=="  # type: ignore[index]
        url = uvicorn_url.replace("http://", "http://user:pw@") + "/echo"
        assert echoed(await http.get(url))["headers"]["authorization"] == "Basic dXNlcjpwdw=="  # type: ignore[index]


# -- streaming ---------------------------------------------------------------------------


async def test_streaming_a_large_body_in_pieces(http: HttpClient, uvicorn_url: str) -> None:
    size = 32 * 1024 * 1024
    total = biggest = 0
    async with http.stream("GET", f"{uvicorn_url}/big", params={"size": size}) as response:
        assert response.status_code == 200
        async for chunk in response.iter_bytes():
            total += len(chunk)
            biggest = max(biggest, len(chunk))
        with pytest.raises(StreamConsumed):
            async for _ in response.iter_bytes():
                pass
    assert total == size and biggest <= 2 * 1024 * 1024
    (counts,) = http.stats().values()
    assert counts["idle"] == 1  # read to its end: the connection went back to the pool


async def test_leaving_a_stream_early_closes_its_connection(
    http: HttpClient, uvicorn_url: str
) -> None:
    async with http.stream("GET", f"{uvicorn_url}/big", params={"size": 10_000_000}) as response:
        async with aclosing(response.iter_bytes()) as chunks:  # as trio asks of a generator
            async for _chunk in chunks:
                break
    assert http.stats() == {}
    assert (await http.get(f"{uvicorn_url}/hello")).content == b"Hello World"


async def test_server_sent_events(http: HttpClient, uvicorn_url: str) -> None:
    async with http.stream("GET", f"{uvicorn_url}/sse", params={"n": 4}) as response:
        events = [event async for event in response.iter_sse()]
    assert [(e.event, e.id, e.json()) for e in events] == [
        ("tick", str(i), {"n": i}) for i in range(4)
    ]


async def test_iter_lines_and_text(http: HttpClient, uvicorn_url: str) -> None:
    async with http.stream("GET", f"{uvicorn_url}/sse", params={"n": 2}) as response:
        lines = [line async for line in response.iter_lines()]
    assert lines[:3] == ["id: 0", "event: tick", 'data: {"n": 0}']


# -- timeouts ----------------------------------------------------------------------------


async def test_a_server_that_stalls_mid_body_is_a_read_timeout(
    http: HttpClient, uvicorn_url: str
) -> None:
    with pytest.raises(ReadTimeout):
        await http.get(f"{uvicorn_url}/stall", timeout=Timeout(read=0.3))
    async with http.stream("GET", f"{uvicorn_url}/stall", timeout=Timeout(read=0.3)) as response:
        with pytest.raises(ReadTimeout):
            await response.read()
    assert http.stats() == {}


async def test_a_late_head_is_a_read_timeout(http: HttpClient, uvicorn_url: str) -> None:
    with pytest.raises(ReadTimeout):
        await http.get(f"{uvicorn_url}/slow-head", timeout=Timeout(read=0.3))


async def test_total_timeout(http: HttpClient, uvicorn_url: str) -> None:
    with pytest.raises(TotalTimeout):
        await http.get(f"{uvicorn_url}/slow-head", timeout=Timeout(read=10, total=0.3))


async def test_pool_timeout_when_every_connection_is_busy(loop: None, uvicorn_url: str) -> None:
    async with HttpClient(max_connections=1, timeout=Timeout(pool=0.2)) as http:
        async with http.stream("GET", f"{uvicorn_url}/stall") as _held:
            with pytest.raises(PoolTimeout):
                await http.get(f"{uvicorn_url}/hello")
        assert (await http.get(f"{uvicorn_url}/hello")).status_code == 200


async def test_waiters_get_connections_in_order(loop: None, uvicorn_url: str) -> None:
    async with HttpClient(max_connections=1) as http:
        order: list[int] = []

        async def one(i: int) -> None:
            await http.get(f"{uvicorn_url}/echo", params={"i": i})
            order.append(i)

        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(one, i)
                await anyio.sleep(0)  # each task queues before the next starts
        assert order == list(range(6))


async def test_a_cancelled_request_frees_its_connection(http: HttpClient, uvicorn_url: str) -> None:
    with anyio.move_on_after(0.2):
        await http.get(f"{uvicorn_url}/slow-head")
    assert http.stats() == {}
    assert (await http.get(f"{uvicorn_url}/hello")).status_code == 200


# -- callback style ----------------------------------------------------------------------


async def test_callback_style(http: HttpClient, uvicorn_url: str) -> None:
    done = anyio.Event()
    got: list[tuple[object, object]] = []

    def on_response(response: Response | None, error: BaseException | None) -> None:
        got.append((response.content if response else None, error))
        if len(got) == 2:
            done.set()

    assert http.get(f"{uvicorn_url}/hello", callback=on_response) is None
    http.get("http://127.0.0.1:1/", callback=on_response)
    with anyio.fail_after(5):
        await done.wait()
    results = dict((str(type(e).__name__), c) for c, e in got)
    assert results["NoneType"] == b"Hello World"
    assert "ConnectError" in results


async def test_gzip_bodies_can_be_read_raw(http: HttpClient, uvicorn_url: str) -> None:
    async with http.stream("GET", f"{uvicorn_url}/gzip") as response:
        raw = b"".join([chunk async for chunk in response.iter_raw()])
    assert gzip.decompress(raw) == b"compressed " * 1000


async def test_a_cookie_jar_keeps_and_returns_cookies(loop: None, raw_server: object) -> None:
    from workerman.http_client import CookieJar

    def script(request: bytes, _index: int) -> list[bytes | float | None]:
        line = request.split(b"\r\n", 1)[0]
        if line.startswith(b"GET /login"):
            return [
                b"HTTP/1.1 302 Found\r\nLocation: /home\r\n"
                b"Set-Cookie: session=abc; Path=/; HttpOnly\r\n"
                b"Set-Cookie: theme=dark; Max-Age=3600\r\n"
                b"Set-Cookie: elsewhere=1; Domain=example.com\r\n"
                b"Content-Length: 0\r\n\r\n"
            ]
        cookie = [h for h in request.split(b"\r\n") if h.lower().startswith(b"cookie:")]
        body = cookie[0][8:] if cookie else b"-"
        return [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)]

    server = raw_server(script)  # type: ignore[operator]
    jar = CookieJar()
    async with HttpClient(cookies=jar) as http:
        response = await http.get(f"{server.url}/login")
        assert response.content == b"session=abc; theme=dark"  # sent on the redirect
        again = await http.get(f"{server.url}/other", headers={"Cookie": "mine=1"})
        assert again.content == b"mine=1; session=abc; theme=dark"
    assert jar.get("session") == "abc" and jar.get("elsewhere") is None
    async with HttpClient() as http:  # no jar: nothing kept
        await http.get(f"{server.url}/login", follow_redirects=False)
        assert (await http.get(f"{server.url}/x")).content == b"-"
