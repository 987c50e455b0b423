"""The apps the tests serve: a Starlette app, a FastAPI app and bare ASGI callables."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import BackgroundTasks, FastAPI, File, Form, HTTPException, UploadFile, WebSocket
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

# -- FastAPI -----------------------------------------------------------------------------

events: list[str] = []  # what background tasks and lifespans did, in order


class Teapot(Exception):
    pass


@asynccontextmanager
async def fastapi_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    events.append("startup")
    yield {"greeting": "hello from lifespan"}
    events.append("shutdown")


api = FastAPI(lifespan=fastapi_lifespan)


@api.exception_handler(Teapot)
async def teapot_handler(request: Request, exc: Teapot) -> JSONResponse:
    return JSONResponse({"error": "teapot"}, status_code=418)


@api.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, Any]:
    return {"item_id": item_id, "q": q}


@api.post("/items")
async def create_item(item: dict[str, Any]) -> dict[str, Any]:
    return {"created": item}


@api.get("/sync")
def sync_route() -> dict[str, str]:  # FastAPI runs it in a thread (anyio)
    return {"ran": "in a thread"}


@api.get("/plain", response_class=PlainTextResponse)
async def plain() -> str:
    return "Hello, World!"


@api.get("/state")
async def state(request: Request) -> dict[str, str]:
    return {"greeting": request.state.greeting}


@api.post("/upload")
async def upload(
    name: Annotated[str, Form()], file: Annotated[UploadFile, File()]
) -> dict[str, Any]:
    data = await file.read()
    return {"name": name, "filename": file.filename, "size": len(data), "head": data[:5].decode()}


@api.get("/stream")
async def stream(parts: int = 3) -> StreamingResponse:
    async def pieces() -> AsyncIterator[bytes]:
        for n in range(parts):
            yield f"piece {n}\n".encode()

    return StreamingResponse(pieces(), media_type="text/plain")


@api.get("/sse")
async def sse() -> StreamingResponse:
    async def events_() -> AsyncIterator[str]:
        for n in range(3):
            yield f"id: {n}\ndata: tick {n}\n\n"

    return StreamingResponse(events_(), media_type="text/event-stream")


@api.get("/background")
async def background(tasks: BackgroundTasks, tag: str) -> dict[str, str]:
    tasks.add_task(events.append, f"background {tag}")
    return {"queued": tag}


@api.get("/teapot")
async def teapot() -> None:
    raise Teapot()


@api.get("/missing")
async def missing() -> None:
    raise HTTPException(status_code=404, detail="no such thing")


@api.get("/crash")
async def crash() -> None:
    raise ValueError("the app broke")


@api.websocket("/ws/{room}")
async def ws_room(websocket: WebSocket, room: str) -> None:
    await websocket.accept(
        subprotocol="chat.v1" if "chat.v1" in websocket.scope["subprotocols"] else None
    )
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                text = message["text"]
                if text == "bye":
                    await websocket.close(code=4001, reason="bye to you")
                    return
                await websocket.send_text(f"{room}: {text}")
            else:
                await websocket.send_bytes(message["bytes"][::-1])
    except WebSocketDisconnect:
        return


# -- Starlette ------------------------------------------------------------------------------


async def hello(request: Request) -> Response:
    return PlainTextResponse(f"hello {request.path_params['name']}")


async def echo_body(request: Request) -> Response:
    body = await request.body()
    return Response(
        body, media_type=request.headers.get("content-type", "application/octet-stream")
    )


async def cookies(request: Request) -> Response:
    response = JSONResponse({"seen": request.cookies.get("session")})
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")
    return response


async def ws_echo(websocket: Any) -> None:
    await websocket.accept(headers=[(b"x-welcome", b"yes")])
    async for text in websocket.iter_text():
        await websocket.send_text(text)


starlette_app = Starlette(
    routes=[
        Route("/hello/{name}", hello),
        Route("/echo", echo_body, methods=["POST"]),
        Route("/cookies", cookies),
        WebSocketRoute("/ws", ws_echo),
    ]
)


# -- bare ASGI ---------------------------------------------------------------------------------


async def scope_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the scope it got (as JSON) and the body messages it received."""
    if scope["type"] == "lifespan":
        return
    pieces = []
    while True:
        message = await receive()
        pieces.append([len(message.get("body", b"")), message.get("more_body", False)])
        if not message.get("more_body"):
            break
    shown = {
        key: scope[key]
        for key in (
            "type",
            "http_version",
            "method",
            "scheme",
            "path",
            "root_path",
            "client",
            "server",
        )
    }
    shown["raw_path"] = scope["raw_path"].decode("latin-1")
    shown["query_string"] = scope["query_string"].decode("latin-1")
    shown["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
    shown["header_types"] = sorted({type(x).__name__ for pair in scope["headers"] for x in pair})
    shown["asgi"] = scope["asgi"]
    shown["pieces"] = pieces
    body = json.dumps(shown).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def hello_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest app: a fixed plain-text answer."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
        }
    )
    await send({"type": "http.response.body", "body": b"Hello, World!"})
