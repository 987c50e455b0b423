"""The HTTP servers under test, each one process: ``python -m benchmarks._http_servers KIND PORT
FILE``.

Every server answers ``GET /`` with a keep-alive ``200`` "Hello World" (text/html, with
Content-Length) and ``GET /file`` with the bytes of FILE, listens on 127.0.0.1:PORT, pins
itself to the core in BENCH_CPU and prints ``READY <pid>`` (the serving process) once it
accepts connections.

workerman-*: ``Worker("http://...")`` on the named loop; ``/file`` is
    ``Response().with_file(FILE)``, anything else ``connection.send("Hello World")``.
uvicorn: uvicorn with httptools on uvloop, no access log, a minimal ASGI app; ``/file`` is
    read from disk in 64 KiB chunks sent with ``more_body``.
ceiling: a hand-written asyncio.Protocol on uvloop around httptools.HttpRequestParser, the
    least a pure-Python HTTP server does: fixed replies, those of one read in one write, the
    file read once at start.
ceiling-parse: the same, keeping the URL and every header of each request and, for
    ``/items/...`` (the ``unique`` case), splitting the path and reading the ``session``
    cookie with ``http.cookies``, as the workerman handler reads ``path`` and
    ``cookie("session")`` there: the least a server does that looks at what it is sent.

With BENCH_PROFILE=PATH, the workerman server profiles its serving process with cProfile
and writes the stats to PATH when it stops.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from email.utils import formatdate
from http.cookies import SimpleCookie
from typing import Any, cast

from ._servers import prepare_process, ready, serve_until_stopped, serve_workerman

WORKERMAN = ("workerman-uvloop", "workerman-asyncio", "workerman-trio")
KINDS = (*WORKERMAN, "uvicorn", "ceiling", "ceiling-parse")
HELLO = b"Hello World"
CHUNK = 64 * 1024


def run_dir_of(port: int) -> str:
    """Where a workerman server keeps its pid, status and log files (the runner removes it)."""
    return f"/tmp/workerman-bench-http-{port}"


# -- workerman ---------------------------------------------------------------------------


def run_workerman(kind: str, port: int, path: str) -> None:
    from workerman.core import Worker
    from workerman.core.http import Response

    Worker.event_loop = kind.removeprefix("workerman-")
    worker = Worker(f"http://127.0.0.1:{port}", name="bench-http")

    def on_message(connection: Any, request: Any) -> None:
        target = request.path
        if target == "/file":
            connection.send(Response().with_file(path))
        else:
            # routed by equality, as the ceiling routes: hello's is "/", and any other
            # is the unique case (/items/...), whose handler reads the session cookie
            if target != "/":
                request.cookie("session")
            connection.send("Hello World")

    worker.on_message = on_message
    serve_workerman(worker, run_dir_of(port))


# -- uvicorn -------------------------------------------------------------------------------


def asgi_app(path: str) -> Any:
    hello_headers = [(b"content-type", b"text/html"), (b"content-length", b"11")]
    file_headers = [
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(os.path.getsize(path)).encode()),
    ]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] != "/file":
            await send({"type": "http.response.start", "status": 200, "headers": hello_headers})
            await send({"type": "http.response.body", "body": HELLO})
            return
        await send({"type": "http.response.start", "status": 200, "headers": file_headers})
        with open(path, "rb") as file:
            chunk = file.read(CHUNK)
            while chunk:
                following = file.read(CHUNK)
                body = {"type": "http.response.body", "body": chunk, "more_body": bool(following)}
                await send(body)
                chunk = following

    return app


def run_uvicorn(port: int, path: str) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            ready()  # listening now

    # as `uvicorn --http httptools --loop uvloop --no-access-log --log-level warning`
    config = uvicorn.Config(
        asgi_app(path),
        host="127.0.0.1",
        port=port,
        http="httptools",
        loop="uvloop",
        access_log=False,
        log_level="warning",
    )
    Server(config).run()


# -- the pure-Python ceiling ---------------------------------------------------------------


class Replies:
    """The fixed replies, with a Date header refreshed once a second."""

    def __init__(self, path: str) -> None:
        with open(path, "rb") as file:
            self.body = file.read()
        self.hello = b""
        self.file_head = b""
        self.refresh()

    def refresh(self) -> None:
        date = formatdate(time.time(), usegmt=True).encode()
        common = b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nDate: " + date + b"\r\n"
        self.hello = common + b"Content-Type: text/html\r\nContent-Length: 11\r\n\r\n" + HELLO
        self.file_head = (
            common
            + b"Content-Type: application/octet-stream\r\nContent-Length: "
            + str(len(self.body)).encode()
            + b"\r\n\r\n"
        )


class HelloProtocol(asyncio.Protocol):
    """httptools parses; each complete request adds a reply; one write per read."""

    __slots__ = ("out", "parser", "transport", "url")
    replies: Replies

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        import httptools

        self.transport = cast(asyncio.Transport, transport)
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.out: list[bytes] = []

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_message_complete(self) -> None:
        replies = self.replies
        if self.url == b"/file":
            self.out += (replies.file_head, replies.body)
        else:
            self.out.append(replies.hello)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception:  # httptools.HttpParserError and its kin: garbage in
            self.transport.close()
            return
        out = self.out
        if len(out) == 1:
            self.transport.write(out[0])
        elif out:  # one writev for all (uvloop): no copy of the file's bytes
            self.transport.writelines(out)
        out.clear()


class ParsingProtocol(HelloProtocol):
    """HelloProtocol that keeps each request's headers and reads a unique request's path
    and session cookie."""

    __slots__ = ("headers",)

    def on_message_begin(self) -> None:
        self.headers: dict[bytes, bytes] = {}

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_message_complete(self) -> None:
        url = self.url
        if url.startswith(b"/items/"):
            _path = url.partition(b"?")[0].decode()
            cookies = SimpleCookie(self.headers.get(b"cookie", b"").decode())
            _session = cookies["session"].value if "session" in cookies else None
        super().on_message_complete()


def run_ceiling(port: int, path: str, parse: bool = False) -> None:
    import uvloop

    replies = Replies(path)
    HelloProtocol.replies = replies
    protocol = ParsingProtocol if parse else HelloProtocol

    async def serve() -> None:
        loop = asyncio.get_running_loop()

        def tick() -> None:
            replies.refresh()
            loop.call_later(1.0, tick)

        loop.call_later(1.0, tick)
        await serve_until_stopped(protocol, port)

    uvloop.run(serve())


def main(argv: list[str]) -> None:
    kind, port, path = argv[0], int(argv[1]), argv[2]
    if kind not in KINDS:
        raise SystemExit(f"unknown server {kind!r}; choose one of {', '.join(KINDS)}")
    prepare_process()
    if kind in WORKERMAN:
        run_workerman(kind, port, path)
    elif kind == "uvicorn":
        run_uvicorn(port, path)
    else:
        run_ceiling(port, path, parse=kind == "ceiling-parse")


if __name__ == "__main__":
    main(sys.argv[1:])
