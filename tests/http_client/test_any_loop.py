"""The client in plain scripts (asyncio.run, uvloop.run, trio.run: no workerman setup),
a client object that outlives its loop, and the pool figures in the core's status."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import trio
import uvloop

from workerman.http_client import HttpClient
from workerman.http_client._status import status_report


async def _hello(http: HttpClient, url: str) -> bytes:
    return (await http.get(f"{url}/hello")).content


async def _once(url: str) -> bytes:
    async with HttpClient() as http:
        return await _hello(http, url)


def test_asyncio_uvloop_and_trio_run(uvicorn_url: str) -> None:
    assert asyncio.run(_once(uvicorn_url)) == b"Hello World"
    assert uvloop.run(_once(uvicorn_url)) == b"Hello World"
    assert trio.run(_once, uvicorn_url) == b"Hello World"


def test_a_client_built_before_any_loop_serves_two_runs_in_turn(uvicorn_url: str) -> None:
    http = HttpClient()  # at import time, before workers fork: no loop touched
    assert asyncio.run(_hello(http, uvicorn_url)) == b"Hello World"
    assert trio.run(_hello, http, uvicorn_url) == b"Hello World"  # a fresh pool on trio
    assert asyncio.run(_hello(http, uvicorn_url)) == b"Hello World"
    http.close()  # no loop runs: the pool of the ended loop is just forgotten


def test_pool_counts_are_reported_for_status(uvicorn_url: str) -> None:
    async def main() -> dict[str, object]:
        async with HttpClient() as http:
            await _hello(http, uvicorn_url)
            return status_report()

    assert asyncio.run(main())[uvicorn_url] == "idle:1,in_use:0,waiting:0"


def test_the_readme_first_example_runs_as_a_program() -> None:
    readme = Path(__file__).resolve().parents[2] / "packages/http-client/README.md"
    text = readme.read_text()
    start = text.index("```python\n", text.index("<!-- example: first -->")) + len("```python\n")
    script = text[start : text.index("```", start)]
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "200 {'items': [1, 2, 3]}"


async def _through_a_worker(uvicorn_url: str) -> list[bytes]:
    """A worker whose handlers call uvicorn with the client, in both styles."""
    from workerman.core import Worker, serve

    upstream = HttpClient()
    web = Worker("http://127.0.0.1:0")

    async def on_message(connection: object, request: object) -> None:
        if request.path == "/await":  # type: ignore[attr-defined]
            response = await upstream.get(f"{uvicorn_url}/hello")
            connection.send(b"await: " + response.content)  # type: ignore[attr-defined]
        else:

            def done(response: object, error: BaseException | None) -> None:
                body = response.content if response is not None else repr(error).encode()  # type: ignore[attr-defined]
                connection.send(b"callback: " + body)  # type: ignore[attr-defined]

            upstream.get(f"{uvicorn_url}/hello", callback=done)

    web.on_message = on_message
    async with serve(web) as (host, port), HttpClient() as http:
        got = [(await http.get(f"http://{host}:{port}/{path}")).content for path in ("await", "cb")]
    await upstream.aclose()
    return got


def test_inside_worker_callbacks_on_both_drivers(uvicorn_url: str) -> None:
    expected = [b"await: Hello World", b"callback: Hello World"]
    assert asyncio.run(_through_a_worker(uvicorn_url)) == expected
    assert trio.run(_through_a_worker, uvicorn_url) == expected
