"""A session handler with async methods (as for a store reached over the network)."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from workerman.core import TcpConnection, Worker
from workerman.core.http import Request, Session

from ..conftest import port_of, serving

pytestmark = pytest.mark.anyio


class MemoryStore:
    """Async methods that yield to the loop before answering, like a network store."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.calls: list[str] = []

    async def read(self, session_id: str) -> bytes | None:
        await anyio.sleep(0)
        self.calls.append("read")
        return self.data.get(session_id)

    async def write(self, session_id: str, data: bytes, lifetime: int) -> None:
        await anyio.sleep(0)
        self.calls.append("write")
        self.data[session_id] = data

    async def touch(self, session_id: str, lifetime: int) -> None:
        self.calls.append("touch")

    async def destroy(self, session_id: str) -> None:
        await anyio.sleep(0)
        self.calls.append("destroy")
        self.data.pop(session_id, None)

    async def gc(self, max_lifetime: int) -> int:
        return 0


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    saved = (Session._handler, Session.gc_probability)
    Session.gc_probability = (0, 1)
    Session.handler = memory = MemoryStore()
    yield memory
    Session._handler, Session.gc_probability = saved


async def get(port: int, cookie: bytes) -> tuple[bytes, bytes]:
    """One request; the body and the session cookie (the one sent, unless set anew)."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        extra = b"Cookie: " + cookie + b"\r\n" if cookie else b""
        await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra + b"\r\n")
        reply = b""
        with anyio.fail_after(5):
            try:
                while True:
                    reply += await stream.receive()
            except anyio.EndOfStream:
                pass
    head, _, body = reply.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"set-cookie:"):
            cookie = line.split(b":", 1)[1].split(b";")[0].strip()
    return body, cookie


async def test_sessions_of_an_async_handler_are_loaded_and_saved(
    anyio_backend: str, store: MemoryStore
) -> None:
    web = Worker("http://127.0.0.1:0")

    async def on_message(connection: TcpConnection, request: Request) -> None:
        session = await request.session.load()
        session["visits"] = session.get("visits", 0) + 1
        if session["visits"] == 2:
            session.regenerate_id()
        connection.send(str(session["visits"]))

    web.on_message = on_message
    async with serving(anyio_backend, web):
        port = port_of(web)
        cookie = b""
        bodies = []
        for _ in range(3):
            body, cookie = await get(port, cookie)
            bodies.append(body)
            with anyio.fail_after(5):  # the writes are awaited on the loop, after the answer
                while store.calls[-1:] not in (["write"], ["destroy"]):
                    await anyio.sleep(0.01)
    assert bodies == [b"1", b"2", b"3"]
    assert len(store.data) == 1  # the id given up by regenerate_id() is gone
    assert store.calls.count("destroy") == 1


async def test_using_an_async_session_before_load_is_an_error(
    anyio_backend: str, store: MemoryStore
) -> None:
    web = Worker("http://127.0.0.1:0")
    web.on_message = lambda connection, request: connection.send(str(request.session.get("x")))
    async with serving(anyio_backend, web):
        body, _ = await get(port_of(web), b"")
    assert body == b"Internal Server Error"
