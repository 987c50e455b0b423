"""The apps of ``benchmarks.asgi``, the same for every server: a bare ASGI hello app, and a
FastAPI app with a JSON route, a plain-text route and one that reads a path parameter, the
query and a cookie (what the every-request-unique workload asks for)."""

from __future__ import annotations

from typing import Any

from fastapi import Cookie, FastAPI
from fastapi.responses import PlainTextResponse

HELLO = b"Hello, World!"
_HELLO_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"13")]


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A plain-text hello to every request; lifespan is answered as supported."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": _HELLO_HEADERS})
        await send({"type": "http.response.body", "body": HELLO})
    elif scope["type"] == "lifespan":
        while True:
            event = await receive()
            await send({"type": event["type"] + ".complete"})
            if event["type"] == "lifespan.shutdown":
                return


api = FastAPI()


@api.get("/json")
async def json_route() -> dict[str, str]:
    return {"message": "Hello, World!"}


@api.get("/plain", response_class=PlainTextResponse)
async def plain_route() -> str:
    return "Hello, World!"


@api.get("/items/{item_id}")
async def item_route(item_id: int, q: str = "", session: str = Cookie("")) -> dict[str, Any]:
    return {"item_id": item_id, "q": q, "session": session[:8]}
