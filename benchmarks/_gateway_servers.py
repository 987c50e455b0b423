"""The servers of benchmarks/gateway.py, one node per process:

    python -m benchmarks._gateway_servers workerman PORT REDIS_URL PREFIX
    python -m benchmarks._gateway_servers socketio PORT REDIS_URL PREFIX

Both speak the same little app over WebSocket (python-socketio inside Socket.IO events):
``j <uid>`` binds the uid and joins the group "bench" (answered ``ok``); ``g <payload>``
sends the payload to the group; ``u <uid> <payload>`` sends it to the uid. Each prints
``READY <pid of the serving process>`` once it listens.
"""

from __future__ import annotations

import os
import resource
import sys
from typing import Any

GROUP = "bench"


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def workerman(port: int, url: str, prefix: str) -> None:
    from workerman.core import TcpConnection, Worker
    from workerman.core.websocket import WebSocket
    from workerman.gateway import Gateway

    gateway = Gateway(url, prefix=prefix)
    # as the Socket.IO side: plain frames
    ws = Worker(
        f"websocket://127.0.0.1:{port}",
        name="gateway-bench",
        protocol=WebSocket.configure(compression=False),
    )
    gateway.attach(ws)

    async def on_message(connection: TcpConnection, text: str) -> None:
        op, _, rest = text.partition(" ")
        if op == "g":
            await gateway.send_to_group(GROUP, rest)
        elif op == "u":
            uid, _, payload = rest.partition(" ")
            await gateway.send_to_uid(uid, payload)
        elif op == "j":
            client = gateway.client(connection)
            await client.bind_uid(rest)
            await client.join_group(GROUP)
            connection.send("ok")

    def on_worker_start(worker: Worker) -> None:
        print(f"READY {os.getpid()}", flush=True)

    ws.on_message = on_message
    ws.on_worker_start = on_worker_start
    Worker.event_loop = "uvloop"
    Worker.pid_file = f"/tmp/workerman.gateway-bench-{port}.pid"
    Worker.status_file = f"/tmp/workerman.gateway-bench-{port}.status"
    Worker.log_file = f"/tmp/workerman.gateway-bench-{port}.log"
    Worker.run_all(["start"])


def socketio(port: int, url: str, prefix: str) -> None:
    import socketio as sio_module
    import uvicorn

    manager = sio_module.AsyncRedisManager(url, channel=f"{prefix}socketio")
    sio = sio_module.AsyncServer(async_mode="asgi", client_manager=manager)

    @sio.on("j")  # type: ignore[misc]
    async def join(sid: str, uid: str) -> None:
        await sio.enter_room(sid, GROUP)
        await sio.enter_room(sid, f"u:{uid}")
        await sio.emit("ok", to=sid)

    @sio.on("g")  # type: ignore[misc]
    async def to_group(sid: str, payload: str) -> None:
        await sio.emit("m", payload, room=GROUP)

    @sio.on("u")  # type: ignore[misc]
    async def to_uid(sid: str, data: Any) -> None:
        uid, payload = data
        await sio.emit("m", payload, room=f"u:{uid}")

    app = sio_module.ASGIApp(sio)

    async def started() -> None:
        print(f"READY {os.getpid()}", flush=True)

    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", ws="websockets",
        log_level="warning", lifespan="off", ws_per_message_deflate=False,
        ws_ping_interval=None,
    )  # fmt: skip
    server = uvicorn.Server(config)
    import asyncio

    async def main() -> None:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        await started()
        await serving

    import uvloop

    uvloop.run(main())


if __name__ == "__main__":
    raise_fd_limit()
    kind, port_text, redis_url, key_prefix = sys.argv[1:5]
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    (workerman if kind == "workerman" else socketio)(int(port_text), redis_url, key_prefix)
