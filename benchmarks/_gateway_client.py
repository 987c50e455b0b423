"""The load generator's clients for benchmarks/gateway.py: raw asyncio Protocols speaking
WebSocket, and Socket.IO (Engine.IO 4) inside it for python-socketio, so both servers are
driven by the same cheap client and the client costs the same on both sides."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable
from typing import Any

from ._ws_client import HOST, MAX_HEAD, check_upgrade, client_frame, split_frames

Deliver = Callable[[str], None]


def _request(port: int, path: str, key: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


class BenchClient(asyncio.Protocol):
    """One connection: ``join(uid)`` binds it and puts it in the group, ``send_op`` asks
    the server to send; every message delivered to it goes to ``on_deliver(text)``."""

    path = "/"

    def __init__(self, port: int, on_deliver: Deliver) -> None:
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.port = port
        self.on_deliver = on_deliver
        self.head: bytearray | None = bytearray()
        self.buffer = b""
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.joined: asyncio.Future[None] = loop.create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(_request(self.port, self.path, self.key))

    def data_received(self, data: bytes) -> None:
        if self.head is not None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > MAX_HEAD and not self.ready.done():
                    self.ready.set_exception(ConnectionError("no end to the 101"))
                return
            head, data = bytes(self.head[:end]), bytes(self.head[end + 4 :])
            self.head = None
            try:
                check_upgrade(head, self.key)
            except ConnectionError as exc:
                self.ready.set_exception(exc)
                return
            self.opened()
        buffer = self.buffer + data if self.buffer else data
        frames, used = split_frames(buffer)
        self.buffer = buffer[used:]
        for first, payload in frames:
            if first & 0x0F == 0x1:  # text; the servers are told not to ping
                self.text(payload.decode())

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.ready, self.joined):
            if not future.done():
                future.set_exception(ConnectionError(f"closed: {exc}"))

    def write_text(self, text: str) -> None:
        self.transport.write(client_frame(text.encode()))

    # -- the app, over plain WebSocket (workerman.gateway) -----------------------------

    def opened(self) -> None:
        self.ready.set_result(None)

    def text(self, text: str) -> None:
        if text == "ok":
            self.joined.set_result(None)
        else:
            self.on_deliver(text)

    def join(self, uid: str) -> None:
        self.write_text(f"j {uid}")

    def to_group(self, payload: str) -> None:
        self.write_text(f"g {payload}")

    def to_uid(self, uid: str, payload: str) -> None:
        self.write_text(f"u {uid} {payload}")


class SocketIoClient(BenchClient):
    """The same app as Socket.IO events on the WebSocket transport (EIO=4): the open
    packet, a connect to the default namespace, pings answered, events as ``42[...]``."""

    path = "/socket.io/?EIO=4&transport=websocket"

    def opened(self) -> None:
        pass  # ready once the namespace is connected

    def text(self, text: str) -> None:
        if text.startswith("42"):
            name, *args = json.loads(text[2:])
            if name == "m":
                self.on_deliver(args[0])
            elif name == "ok":
                self.joined.set_result(None)
        elif text == "2":
            self.write_text("3")  # pong
        elif text.startswith("0"):
            self.write_text("40")
        elif text.startswith("40") and not self.ready.done():
            self.ready.set_result(None)

    def _emit(self, *event: Any) -> None:
        self.write_text("42" + json.dumps(event, separators=(",", ":")))

    def join(self, uid: str) -> None:
        self._emit("j", uid)

    def to_group(self, payload: str) -> None:
        self._emit("g", payload)

    def to_uid(self, uid: str, payload: str) -> None:
        self._emit("u", [uid, payload])


async def open_clients(
    kind: str, ports: list[int], count: int, on_deliver: Deliver, concurrency: int = 200
) -> list[BenchClient]:
    """``count`` joined clients spread over ``ports`` (client i on ports[i % len]), uid u<i>."""
    loop = asyncio.get_running_loop()
    factory = SocketIoClient if kind == "socketio" else BenchClient
    clients: list[BenchClient | None] = [None] * count
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with gate:
            port = ports[index % len(ports)]
            _transport, client = await loop.create_connection(
                lambda: factory(port, on_deliver), HOST, port
            )
            async with asyncio.timeout(30):
                await client.ready
                client.join(f"u{index}")
                await client.joined
            clients[index] = client

    await asyncio.gather(*(one(i) for i in range(count)))
    return [c for c in clients if c is not None]


def now() -> float:
    return time.perf_counter()
