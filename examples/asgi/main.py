"""A FastAPI app on workerman: JSON routes, a stream, a WebSocket echo, and lifespan.

    python -m workerman.asgi main:app --listen http://127.0.0.1:8000 --count 2 start
    python -m workerman.asgi main:app reload -g     # from this directory, in another shell
    python -m workerman.asgi main:app status

or, composed with plain workers, ``python app.py start`` (see app.py).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import PlainTextResponse, StreamingResponse


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, int]]:
    yield {"started_by": os.getpid()}  # runs once per worker process


app = FastAPI(lifespan=lifespan)


@app.get("/")
async def index() -> dict[str, object]:
    return {"hello": "world", "pid": os.getpid()}


@app.get("/plain", response_class=PlainTextResponse)
async def plain() -> str:
    return "Hello, World!"


@app.get("/items/{item_id}")
async def item(item_id: int, q: str | None = None) -> dict[str, object]:
    return {"item_id": item_id, "q": q}


@app.get("/count")
async def count(to: int = 5) -> StreamingResponse:
    async def numbers() -> AsyncIterator[str]:
        for n in range(1, to + 1):
            yield f"data: {n}\n\n"

    return StreamingResponse(numbers(), media_type="text/event-stream")


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass
