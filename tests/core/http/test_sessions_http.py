"""Sessions over real HTTP: the cookie, the store, and a real client's cookie jar."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from workerman.core import TcpConnection, Worker, current_loop
from workerman.core.http import Chunk, FileSessionHandler, Request, Response, Session

from ..conftest import port_of, serving
from ._raw import exchange, need_tool, request

pytestmark = pytest.mark.anyio

SETTINGS = ("name", "lifetime", "cookie_lifetime", "cookie_path", "domain", "secure")
SETTINGS += ("http_only", "same_site", "gc_probability", "serializer")


class MemoryStore:
    """A session handler of our own: a dict, to show the interface is pluggable."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def read(self, session_id: str) -> bytes | None:
        return self.data.get(session_id)

    def write(self, session_id: str, data: bytes, lifetime: int) -> None:
        self.data[session_id] = data

    def touch(self, session_id: str, lifetime: int) -> None:
        pass

    def destroy(self, session_id: str) -> None:
        self.data.pop(session_id, None)

    def gc(self, max_lifetime: int) -> int:
        return 0


@pytest.fixture(autouse=True)
def session_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Default settings and a file store of the test's own."""
    for setting in SETTINGS:
        monkeypatch.setattr(Session, setting, getattr(Session, setting))
    monkeypatch.setattr(Session, "_handler", None)
    Session.gc_probability = (0, 1)
    store = tmp_path / "sessions"
    Session.handler = FileSessionHandler(str(store))
    yield store


def counter(connection: TcpConnection, req: Request) -> None:
    """Counts the requests of a session; /plain answers without touching it."""
    if req.path == "/plain":
        connection.send("plain")
        return
    session = req.session
    session["n"] = session.get("n", 0) + 1
    connection.send(f"{session['n']} {session.id}")


def http_worker(handler: Any) -> Worker:
    worker = Worker("http://127.0.0.1:0", name="sessions")
    worker.on_message = handler
    return worker


def cookie_of(set_cookie: str) -> str:
    return set_cookie.partition(";")[0]


async def test_curl_keeps_a_session_with_its_cookie_jar(
    anyio_backend: str, tmp_path: Path, session_store: Path
) -> None:
    curl = need_tool("curl")
    jar = tmp_path / "jar.txt"
    worker = http_worker(counter)
    async with serving(anyio_backend, worker):
        url = f"http://127.0.0.1:{port_of(worker)}/count"
        runs = [
            await anyio.run_process(
                [curl, "-sS", "-i", "--max-time", "5", "-c", str(jar), "-b", str(jar), url]
            )
            for _ in range(3)
        ]
    heads = [run.stdout.partition(b"\r\n\r\n")[0].decode() for run in runs]
    bodies = [run.stdout.partition(b"\r\n\r\n")[2].decode().split() for run in runs]
    assert [body[0] for body in bodies] == ["1", "2", "3"]
    assert len({body[1] for body in bodies}) == 1
    sid = bodies[0][1]
    set_cookies = [line for line in heads[0].split("\r\n") if line.startswith("Set-Cookie:")]
    assert set_cookies == [f"Set-Cookie: WMSESSID={sid}; Path=/; HttpOnly; SameSite=Lax"]
    assert all("Set-Cookie" not in head for head in heads[1:])
    assert f"WMSESSID\t{sid}" in jar.read_text()
    assert (session_store / f"ses_{sid}").exists()


async def test_the_session_cookie_carries_the_settings(anyio_backend: str) -> None:
    Session.name = "SID"
    Session.cookie_lifetime = 3600
    Session.cookie_path = "/app"
    Session.domain = "example.com"
    Session.secure = True
    Session.same_site = "Strict"
    worker = http_worker(counter)
    async with serving(anyio_backend, worker):
        (reply,), _ = await exchange(port_of(worker), request("GET", "/app/x"))
    sid = reply.body.split()[1].decode()
    attributes = reply.header("set-cookie").split("; ")  # type: ignore[union-attr]
    assert attributes[0] == f"SID={sid}"
    assert "Max-Age=3600" in attributes
    assert any(a.startswith("Expires=") for a in attributes)
    assert {"Path=/app", "Domain=example.com", "Secure", "HttpOnly", "SameSite=Strict"} <= set(
        attributes
    )


async def test_a_handler_that_never_touches_the_session_costs_nothing(
    anyio_backend: str, session_store: Path
) -> None:
    worker = http_worker(counter)
    async with serving(anyio_backend, worker):
        (reply,), _ = await exchange(port_of(worker), request("GET", "/plain"))
    assert reply.header("set-cookie") is None
    assert os.listdir(session_store) == []


async def test_an_unknown_or_malformed_session_cookie_starts_a_session(
    anyio_backend: str,
) -> None:
    worker = http_worker(counter)
    unknown = "a" * 32
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        (bad,), _ = await exchange(port, request("GET", "/", {"Cookie": "WMSESSID=../../etc"}))
        (fresh,), _ = await exchange(port, request("GET", "/", {"Cookie": f"WMSESSID={unknown}"}))
    assert bad.body.startswith(b"1 ")
    assert bad.header("set-cookie") is not None
    assert "../" not in bad.header("set-cookie")  # type: ignore[operator]
    assert fresh.body == f"1 {unknown}".encode()  # a well-formed id is used as it is


async def test_regenerating_the_id_sends_a_new_cookie_and_drops_the_old_data(
    anyio_backend: str,
) -> None:
    store = MemoryStore()
    Session.handler = store

    def handler(connection: TcpConnection, req: Request) -> None:
        session = req.session
        if req.path == "/login":
            session.regenerate_id()
            session["user"] = "ann"
        connection.send(Response(200, body=str(session.get("user"))))

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        (first,), _ = await exchange(port, request("GET", "/"))
        old = cookie_of(first.header("set-cookie"))  # type: ignore[arg-type]
        (login,), _ = await exchange(port, request("GET", "/login", {"Cookie": old}))
        new = cookie_of(login.header("set-cookie"))  # type: ignore[arg-type]
        (after,), _ = await exchange(port, request("GET", "/", {"Cookie": new}))
    assert new != old
    assert login.body == b"ann"
    assert after.body == b"ann"
    assert after.header("set-cookie") is None
    assert list(store.data) == [new.partition("=")[2]]


async def test_a_session_is_saved_after_streamed_and_async_responses(anyio_backend: str) -> None:
    store = MemoryStore()
    Session.handler = store

    async def handler(connection: TcpConnection, req: Request) -> None:
        await anyio.sleep(0.01)
        req.session["path"] = req.path
        if req.path == "/chunked":
            connection.send(Response(200, {"Transfer-Encoding": "chunked"}))
            current_loop().delay(0.02, connection.send, Chunk("x"))
            current_loop().delay(0.04, connection.send, Chunk())
        else:
            connection.send(Response(201, body="ok"))

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        replies, _ = await exchange(
            port_of(worker), request("GET", "/chunked") + request("GET", "/async"), count=2
        )
    assert [r.status for r in replies] == [200, 201]
    ids = [cookie_of(r.header("set-cookie")).partition("=")[2] for r in replies]  # type: ignore[arg-type]
    assert [store.data[i] for i in ids] == [b'{"path":"/chunked"}', b'{"path":"/async"}']


async def test_a_session_ends_with_destroy_and_a_deleting_cookie(anyio_backend: str) -> None:
    store = MemoryStore()
    Session.handler = store

    def handler(connection: TcpConnection, req: Request) -> None:
        session = req.session
        if req.path == "/logout":
            session.destroy()
            connection.send(Response(200, body="bye").cookie(Session.name, "", max_age=0))
            return
        session["here"] = True
        connection.send("hi")

    worker = http_worker(handler)
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        (first,), _ = await exchange(port, request("GET", "/"))
        cookie = cookie_of(first.header("set-cookie"))  # type: ignore[arg-type]
        assert len(store.data) == 1
        (out,), _ = await exchange(port, request("GET", "/logout", {"Cookie": cookie}))
    assert store.data == {}
    assert out.header("set-cookie").startswith("WMSESSID=; Max-Age=0")  # type: ignore[union-attr]
