"""A small ASGI app that uvicorn serves to the client tests (in a subprocess)."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from typing import Any
from urllib.parse import parse_qs

Scope = dict[str, Any]


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path: str = scope["path"]
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break

    async def answer(
        status: int, content: bytes, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        headers = [*(headers or []), (b"content-length", b"%d" % len(content))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    if path == "/hello":
        await answer(200, b"Hello World", [(b"content-type", b"text/plain")])
    elif path == "/echo":
        info = {
            "method": scope["method"],
            "path": path,
            "query": scope["query_string"].decode(),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
            "body": body.decode("latin-1"),
            "size": len(body),
        }
        await answer(200, json.dumps(info).encode(), [(b"content-type", b"application/json")])
    elif path.startswith("/redirect/"):
        left = int(path.rsplit("/", 1)[1])
        where = f"/redirect/{left - 1}" if left > 1 else "/echo"
        await answer(int(query.get("status", "302")), b"", [(b"location", where.encode())])
    elif path == "/to":
        await answer(int(query.get("status", "302")), b"", [(b"location", query["url"].encode())])
    elif path == "/status":
        await answer(int(query["code"]), b"status page")
    elif path == "/gzip":
        data = b"compressed " * 1000
        await answer(200, gzip.compress(data), [(b"content-encoding", b"gzip")])
    elif path == "/deflate":
        data = b"deflated " * 1000
        await answer(200, zlib.compress(data), [(b"content-encoding", b"deflate")])
    elif path == "/bomb":
        data = gzip.compress(b"\0" * (int(query.get("mib", "20")) * 1024 * 1024))
        await answer(200, data, [(b"content-encoding", b"gzip")])
    elif path == "/chunked":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(int(query.get("n", "5"))):
            await send({"type": "http.response.body", "body": b"part%d;" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/big":
        size = int(query["size"])
        piece = b"x" * 65536
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(size).encode())],
            }
        )
        sent = 0
        while sent < size:
            part = piece[: min(len(piece), size - sent)]
            sent += len(part)
            await send({"type": "http.response.body", "body": part, "more_body": sent < size})
    elif path == "/stall":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
        )
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await asyncio.sleep(30)
    elif path == "/slow-head":
        await asyncio.sleep(30)
        await answer(200, b"late")
    elif path == "/sse":
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(int(query.get("n", "3"))):
            event = f'id: {i}\nevent: tick\ndata: {{"n": {i}}}\n\n'.encode()
            await send({"type": "http.response.body", "body": event, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
    elif path == "/charset":
        await answer(
            200, "héllo".encode("latin-1"), [(b"content-type", b"text/plain; charset=latin-1")]
        )
    else:
        await answer(404, b"not found")
