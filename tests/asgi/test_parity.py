"""The same requests against AsgiWorker and uvicorn, where the ASGI spec defines what the
app sees and the client gets: both serve tests/asgi/_apps.py as real processes, httpx and
the websockets library are the clients."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.core._supervisor_harness import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ["workerman", "uvicorn"]


def _command(server: str, app: str, port: int, tmp: Path) -> list[str]:
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--no-access-log"]
    return [
        sys.executable,
        "-m",
        "workerman.asgi",
        app,
        "--listen",
        f"http://127.0.0.1:{port}",
        "start",
    ]


def _up(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[dict[str, str]]:
    """Both apps (FastAPI and the scope echo) served by one kind of server."""
    tmp = tmp_path_factory.mktemp(request.param)
    urls: dict[str, str] = {}
    processes = []
    for name, app in (("api", "tests.asgi._apps:api"), ("scope", "tests.asgi._apps:scope_app")):
        port = free_port()
        processes.append(
            subprocess.Popen(
                _command(request.param, app, port, tmp),
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**__import__("os").environ, "TMPDIR": str(tmp)},
            )
        )
        urls[name] = f"http://127.0.0.1:{port}"
        wait_until(lambda port=port: _up(port), timeout=20, what=f"{request.param} up")
    urls["kind"] = request.param
    yield urls
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_json_routes(server: dict[str, str]) -> None:
    with httpx.Client(base_url=server["api"]) as client:
        got = client.get("/items/7", params={"q": "a&b"})
        assert (got.status_code, got.json()) == (200, {"item_id": 7, "q": "a&b"})
        assert client.post("/items", json={"x": [1, 2]}).json() == {"created": {"x": [1, 2]}}
        assert client.get("/items/zz").status_code == 422
        assert client.get("/sync").json() == {"ran": "in a thread"}
        assert client.get("/state").json() == {"greeting": "hello from lifespan"}


def test_upload_stream_and_errors(server: dict[str, str]) -> None:
    with httpx.Client(base_url=server["api"]) as client:
        uploaded = client.post(
            "/upload", data={"name": "n"}, files={"file": ("f.txt", b"hello world", "text/plain")}
        )
        assert uploaded.json() == {"name": "n", "filename": "f.txt", "size": 11, "head": "hello"}
        streamed = client.get("/stream", params={"parts": 3})
        assert streamed.text == "piece 0\npiece 1\npiece 2\n"
        assert streamed.headers["transfer-encoding"] == "chunked"
        events = client.get("/sse")
        assert events.headers["content-type"].startswith("text/event-stream")
        assert "data: tick 2" in events.text
        assert client.get("/teapot").status_code == 418
        assert client.head("/plain").status_code == 405  # FastAPI routes GET only
    with httpx.Client(base_url=server["api"]) as client:  # a crash may cost the connection
        assert client.get("/crash").status_code == 500


def test_scope_as_the_app_sees_it(server: dict[str, str]) -> None:
    with httpx.Client() as client:
        got = client.post(
            server["scope"] + "/p%C3%A4th/x%2Fy?a=1&b=%20",
            content=b"body",
            headers={"X-Twice": "1", "x-twice": "2"},
        ).json()
    assert got["type"] == "http"
    assert got["asgi"]["version"] == "3.0"
    assert got["http_version"] == "1.1"
    assert got["method"] == "POST"
    assert got["scheme"] == "http"
    assert got["path"] == "/päth/x/y"
    assert got["raw_path"] == "/p%C3%A4th/x%2Fy"
    assert got["query_string"] == "a=1&b=%20"
    assert got["root_path"] == ""
    assert got["client"][0] == "127.0.0.1"
    assert got["server"][0] == "127.0.0.1"
    assert got["header_types"] == ["bytes"]
    assert [v for n, v in got["headers"] if n == "x-twice"] == ["1", "2"]
    assert got["pieces"][-1] == [4, False]
    assert sum(piece[0] for piece in got["pieces"]) == 4


def test_websocket_route(server: dict[str, str]) -> None:
    url = "ws" + server["api"].removeprefix("http") + "/ws/hall"
    with connect(url, subprotocols=["chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v1"
        ws.send("hi")
        assert ws.recv(timeout=5) == "hall: hi"
        ws.send(b"ab")
        assert ws.recv(timeout=5) == b"ba"
        ws.send("bye")
        with pytest.raises(Exception) as closed:
            ws.recv(timeout=5)
    assert getattr(closed.value, "rcvd", None) is not None
    assert closed.value.rcvd.code == 4001  # type: ignore[attr-defined]
