"""ASGI http scopes on AsgiWorker, driven by httpx (and raw sockets where the bytes matter),
on both drivers: FastAPI and Starlette routes, the scope's fields, request bodies in
pieces, streams, errors."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from . import _apps
from ._apps import api, scope_app, starlette_app

pytestmark = pytest.mark.anyio


async def test_fastapi_routes_path_params_and_json(app_server: Any) -> None:
    async with app_server(api) as url, httpx.AsyncClient(base_url=url) as client:
        got = await client.get("/items/42", params={"q": "x y"})
        assert got.status_code == 200
        assert got.json() == {"item_id": 42, "q": "x y"}
        assert got.headers["content-type"] == "application/json"
        created = await client.post("/items", json={"name": "pen", "tags": ["a", "b"]})
        assert created.json() == {"created": {"name": "pen", "tags": ["a", "b"]}}
        invalid = await client.get("/items/not-a-number")
        assert invalid.status_code == 422
        assert (await client.get("/plain")).text == "Hello, World!"


async def test_fastapi_sync_route_runs_in_a_thread(app_server: Any) -> None:
    async with app_server(api) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/sync")).json() == {"ran": "in a thread"}


async def test_lifespan_state_reaches_requests(app_server: Any) -> None:
    async with app_server(api) as url, httpx.AsyncClient(base_url=url) as client:
        got = await client.get("/state")
        assert got.json() == {"greeting": "hello from lifespan"}


async def test_form_upload(app_server: Any) -> None:
    content = b"hello" + bytes(range(256)) * 400
    async with app_server(api) as url, httpx.AsyncClient(base_url=url) as client:
        got = await client.post(
            "/upload", data={"name": "report"}, files={"file": ("r.bin", content, "x/y")}
        )
        assert got.json() == {
            "name": "report",
            "filename": "r.bin",
            "size": len(content),
            "head": "hello",
        }


async def test_streaming_response_is_chunked(app_server: Any) -> None:
    async with app_server(api) as url, httpx.AsyncClient(base_url=url) as client:
        async with client.stream("GET", "/stream", params={"parts": 4}) as response:
            assert response.headers["transfer-encoding"] == "chunked"
            assert response.headers["content-type"].startswith("text/plain")
            body = b"".join([piece async for piece in response.aiter_bytes()])
        assert body == b"".join(f"piece {n}\n".encode() for n in range(4))


async def test_server_sent_events_through_streaming_response(app_server: Any) -> None:
    async with app_server(api) as url, httpx.AsyncClient(base_url=url) as client:
        async with client.stream("GET", "/sse") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = [line async for line in response.aiter_lines()]
        data = [line for line in lines if line.startswith("data: ")]
        assert data == ["data: tick 0", "data: tick 1", "data: tick 2"]


async def test_background_task_runs_after_the_response(app_server: Any) -> None:
    tag = f"bg-{id(object())}"
    async with app_server(api) as url, httpx.AsyncClient(base_url=url) as client:
        got = await client.get("/background", params={"tag": tag})
        assert got.json() == {"queued": tag}
        with anyio.fail_after(5):
            while f"background {tag}" not in _apps.events:
                await anyio.sleep(0.01)


async def test_exception_handlers_and_errors(app_server: Any) -> None:
    async with app_server(api) as url, httpx.AsyncClient(base_url=url) as client:
        teapot = await client.get("/teapot")
        assert (teapot.status_code, teapot.json()) == (418, {"error": "teapot"})
        missing = await client.get("/missing")
        assert (missing.status_code, missing.json()) == (404, {"detail": "no such thing"})
        crash = await client.get("/crash")
        assert crash.status_code == 500
        assert (await client.get("/plain")).status_code == 200  # the connection served on


async def test_starlette_routes_bodies_and_repeated_headers(app_server: Any) -> None:
    async with app_server(starlette_app) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/hello/w%C3%B6rld")).text == "hello wörld"
        body = bytes(range(256)) * 1000
        echoed = await client.post("/echo", content=body, headers={"content-type": "x/bin"})
        assert echoed.content == body
        assert echoed.headers["content-type"] == "x/bin"
        cookies = await client.get("/cookies", headers={"Cookie": "session=s1"})
        assert cookies.json() == {"seen": "s1"}
        assert cookies.headers.get_list("set-cookie") == [
            "a=1; Path=/; SameSite=lax",
            "b=2; Path=/; SameSite=lax",
        ]


async def test_scope_fields(app_server: Any) -> None:
    async with app_server(scope_app, root_path="/api") as url, httpx.AsyncClient() as client:
        got = await client.get(
            url + "/a%20b/c%2Fd?x=1&y=%20", headers={"X-Custom": "v1", "x-custom": "v2"}
        )
        scope = got.json()
    port = int(url.rsplit(":", 1)[1])
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/a b/c/d"
    assert scope["raw_path"] == "/a%20b/c%2Fd"
    assert scope["query_string"] == "x=1&y=%20"
    assert scope["server"] == ["127.0.0.1", port]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["header_types"] == ["bytes"]
    custom = [value for name, value in scope["headers"] if name == "x-custom"]
    assert custom == ["v1", "v2"]  # repeated headers stay separate pairs, in order
    assert ["host", f"127.0.0.1:{port}"] in scope["headers"]


async def test_request_body_arrives_in_bounded_pieces(app_server: Any) -> None:
    body = b"x" * 10_000
    async with app_server(scope_app, body_chunk_size=4096) as url, httpx.AsyncClient() as client:
        scope = (await client.post(url + "/", content=body)).json()
        small = (await client.post(url + "/", content=b"abc")).json()
        empty = (await client.get(url + "/")).json()
    assert scope["pieces"] == [[4096, True], [4096, True], [1808, False]]
    assert small["pieces"] == [[3, False]]
    assert empty["pieces"] == [[0, False]]


async def test_proxy_headers_from_a_trusted_address(app_server: Any) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Forwarded-Proto": "https"}
    async with app_server(scope_app) as url, httpx.AsyncClient() as client:
        trusted = (await client.get(url + "/", headers=forwarded)).json()
    async with (
        app_server(scope_app, forwarded_allow_ips="10.0.0.0/8") as url,
        httpx.AsyncClient() as client,
    ):
        untrusted = (await client.get(url + "/", headers=forwarded)).json()
    assert trusted["client"] == ["203.0.113.7", 0]
    assert trusted["scheme"] == "https"
    assert untrusted["client"][0] == "127.0.0.1"
    assert untrusted["scheme"] == "http"


async def test_keep_alive_and_pipelined_requests_answer_in_order(app_server: Any) -> None:
    async with app_server(starlette_app) as url:
        host, port = url.removeprefix("http://").split(":")
        async with await anyio.connect_tcp(host, int(port)) as stream:
            request = "GET /hello/{} HTTP/1.1\r\nHost: x\r\n\r\n"
            await stream.send("".join(request.format(n) for n in range(5)).encode())
            data = b""
            with anyio.fail_after(5):
                while data.count(b"hello ") < 5:
                    data += await stream.receive()
    bodies = [part.rsplit(b"\r\n\r\n", 1)[-1] for part in data.split(b"HTTP/1.1 ")[1:]]
    assert bodies == [f"hello {n}".encode() for n in range(5)]


async def test_trailers_are_refused_with_a_500(app_server: Any) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "trailers": True})

    async with app_server(app) as url, httpx.AsyncClient() as client:
        assert (await client.get(url + "/")).status_code == 500


async def test_app_returning_without_a_response_is_a_500(app_server: Any) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        return None

    async with app_server(app, lifespan="off") as url, httpx.AsyncClient() as client:
        assert (await client.get(url + "/")).status_code == 500


async def test_head_of_a_response_with_a_body(app_server: Any) -> None:
    async with app_server(starlette_app) as url, httpx.AsyncClient() as client:
        got = await client.head(url + "/hello/x")
    assert got.status_code == 200
    assert got.content == b""


async def test_access_log_one_line_per_request(app_server: Any, caplog: Any) -> None:
    caplog.set_level("INFO", logger="workerman.asgi.access")
    async with app_server(starlette_app, access_log=True) as url, httpx.AsyncClient() as client:
        await client.get(url + "/hello/log?x=1")
    lines = [r.getMessage() for r in caplog.records if r.name == "workerman.asgi.access"]
    assert len(lines) == 1
    assert '"GET /hello/log?x=1 HTTP/1.1" 200 9' in lines[0]


async def test_no_access_log_by_default(app_server: Any, caplog: Any) -> None:
    caplog.set_level("INFO", logger="workerman.asgi.access")
    async with app_server(starlette_app) as url, httpx.AsyncClient() as client:
        await client.get(url + "/hello/log")
    assert not [r for r in caplog.records if r.name == "workerman.asgi.access"]


async def test_headers_given_as_lists_and_repeated(app_server: Any) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [[b"x-one", b"1"], [b"Set-Cookie", b"a=1"], [b"set-cookie", b"b=2"]]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": b"made"})

    async with app_server(app, lifespan="off") as url, httpx.AsyncClient() as client:
        for _ in range(2):  # the second answer comes from the cache of header lists
            got = await client.get(url + "/")
            assert (got.status_code, got.text, got.headers["x-one"]) == (201, "made", "1")
            assert got.headers.get_list("set-cookie") == ["a=1", "b=2"]


async def test_a_header_that_would_split_the_head_is_a_500_not_an_injection(
    app_server: Any, caplog: Any
) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        evil = [(b"x-evil", b"1\r\nSet-Cookie: admin=1")] if scope["path"] == "/evil" else []
        await send({"type": "http.response.start", "status": 200, "headers": evil})
        await send({"type": "http.response.body", "body": b"fine"})

    async with app_server(app, lifespan="off") as url, httpx.AsyncClient() as client:
        for _ in range(2):  # the refusal is not remembered as a known header list
            got = await client.get(url + "/evil")
            assert got.status_code == 500
            assert "set-cookie" not in got.headers and "x-evil" not in got.headers
        assert (await client.get(url + "/")).text == "fine"
    assert any("CR, LF or NUL" in str(r.exc_info and r.exc_info[1]) for r in caplog.records)


async def test_a_body_spooled_to_disk_arrives_in_pieces(app_server: Any) -> None:
    body = bytes(range(256)) * (12 * 1024)  # 3 MiB: over Http.body_spool_size
    async with app_server(scope_app) as url, httpx.AsyncClient() as client:
        scope = (await client.post(url + "/", content=body)).json()
    async with app_server(starlette_app) as url, httpx.AsyncClient() as client:
        echoed = await client.post(url + "/echo", content=body)
    pieces = scope["pieces"]
    assert sum(size for size, _ in pieces) == len(body)
    assert all(size <= 65536 for size, _ in pieces)
    assert [more for _, more in pieces] == [True] * (len(pieces) - 1) + [False]
    assert echoed.content == body
